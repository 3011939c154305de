*> Test Program
identification division.
program-id. ok-test.

procedure division.
display "OK"
goback.
end program ok-test.
