console.log("OK")
