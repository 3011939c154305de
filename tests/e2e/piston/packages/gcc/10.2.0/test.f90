program test
  print "(a)", 'OK'
end program test
