printfn "OK"
