#lang racket

(display "OK")