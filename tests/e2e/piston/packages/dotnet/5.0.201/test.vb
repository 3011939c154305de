Imports System

Module Module1

    Sub Main()
        Console.WriteLine("OK")
    End Sub

End Module
