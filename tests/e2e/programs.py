"""Per-language test programs: `hello` prints "hello, world"; `echo` reads one line from stdin and
prints it back; `broken` does not compile (compiled languages only).  Used by test_languages.py."""

HELLO = "hello, world"

PROGRAMS = {
    "python": {
        "hello": 'print("hello, world")\n',
        "echo": 'print(input())\n',
    },
    "ipython": {
        "hello": 'print("hello, world")\n',
        "echo": 'print(input())\n',
    },
    "c": {
        "hello": '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n',
        "echo": '#include <stdio.h>\nint main(void) { char b[256];\n'
                '  if (fgets(b, sizeof b, stdin)) fputs(b, stdout); return 0; }\n',
        "broken": 'int main(void) { return nope; }\n',
    },
    "bash": {
        "hello": 'echo "hello, world"\n',
        "echo": 'read -r line\necho "$line"\n',
    },
    "awk": {
        "hello": 'BEGIN { print "hello, world" }\n',
        "echo": '{ print; exit }\n',
    },
    "perl": {
        "hello": 'print "hello, world\\n";\n',
        "echo": 'my $l = <STDIN>; print $l;\n',
    },
    "lua": {
        "hello": 'print("hello, world")\n',
        "echo": 'print(io.read("l"))\n',
    },
    "ruby": {
        "hello": 'puts "hello, world"\n',
        "echo": 'puts gets\n',
    },
    "php": {
        "hello": '<?php\necho "hello, world\\n";\n',
        "echo": '<?php\necho fgets(STDIN);\n',
    },
    "tcl": {
        "hello": 'puts "hello, world"\n',
        "echo": 'gets stdin line\nputs $line\n',
    },
    "sqlite3": {
        "hello": "SELECT 'hello, world';\n",
    },
    "scheme": {
        "hello": '(display "hello, world")\n(newline)\n',
        "echo": '(use-modules (ice-9 rdelim))\n(display (read-line))\n(newline)\n',
    },
    "javascript": {
        "hello": 'console.log("hello, world");\n',
        "echo": 'const rl = require("readline").createInterface({ input: process.stdin });\n'
                'rl.once("line", (l) => { console.log(l); rl.close(); });\n',
    },
    "typescript": {
        # No @types/node in Debian 12: declare what the program uses.
        "hello": 'const greeting: string = "hello, world";\nconsole.log(greeting);\n',
        "echo": 'declare const require: any;\n'
                'const rl = require("readline").createInterface({ input: require("process").stdin });\n'
                'rl.once("line", (l: string) => { console.log(l); rl.close(); });\n',
        "broken": 'const n: number = "not a number";\n',
    },
    "prolog": {
        "hello": ':- initialization(main, main).\nmain :- write(\'hello, world\'), nl.\n',
        "echo": ':- initialization(main, main).\n'
                'main :- read_line_to_string(user_input, L), write(L), nl.\n',
    },
    "lisp": {
        "hello": '(write-line "hello, world")\n',
        "echo": '(write-line (read-line))\n',
    },
    "racket": {
        "hello": '#lang racket/base\n(displayln "hello, world")\n',
        "echo": '#lang racket/base\n(displayln (read-line))\n',
    },
    "c++": {
        "hello": '#include <iostream>\nint main() { std::cout << "hello, world" << std::endl; }\n',
        "echo": '#include <iostream>\n#include <string>\n'
                'int main() { std::string l; std::getline(std::cin, l); std::cout << l << std::endl; }\n',
        "broken": 'int main() { return nope; }\n',
    },
    "d": {
        "hello": 'import std.stdio;\nvoid main() { writeln("hello, world"); }\n',
        "echo": 'import std.stdio, std.string;\nvoid main() { writeln(readln().chomp); }\n',
        "broken": 'void main() { nope(); }\n',
    },
    "fortran": {
        "hello": 'program hello\n  print \'(a)\', "hello, world"\nend program hello\n',
        "echo": 'program echo\n  character(len=256) :: line\n  read \'(a)\', line\n'
                '  print \'(a)\', trim(line)\nend program echo\n',
        "broken": 'program broken\n  call nope(\nend program broken\n',
    },
    "nasm64": {
        "hello": 'section .data\nmsg: db "hello, world", 10\nsection .text\nglobal _start\n_start:\n'
                 '  mov rax, 1\n  mov rdi, 1\n  mov rsi, msg\n  mov rdx, 13\n  syscall\n'
                 '  mov rax, 60\n  xor rdi, rdi\n  syscall\n',
        "echo": 'section .bss\nbuf: resb 256\nsection .text\nglobal _start\n_start:\n'
                '  xor rax, rax\n  xor rdi, rdi\n  mov rsi, buf\n  mov rdx, 256\n  syscall\n'
                '  mov rdx, rax\n  mov rax, 1\n  mov rdi, 1\n  mov rsi, buf\n  syscall\n'
                '  mov rax, 60\n  xor rdi, rdi\n  syscall\n',
        "broken": 'section .text\n_start:\n  mov rax, nope nope\n',
    },
    "pascal": {
        "hello": "program hello;\nbegin\n  writeln('hello, world');\nend.\n",
        "echo": "program echo;\nvar l: string;\nbegin\n  readln(l);\n  writeln(l);\nend.\n",
        "broken": "program broken;\nbegin\n  nope;\nend.\n",
    },
    "nim": {
        "hello": 'echo "hello, world"\n',
        "echo": 'echo stdin.readLine()\n',
        "broken": 'echo nope\n',
    },
    "go": {
        "hello": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello, world") }\n',
        "echo": 'package main\nimport ("bufio"; "fmt"; "os")\n'
                'func main() { s := bufio.NewScanner(os.Stdin); s.Scan(); fmt.Println(s.Text()) }\n',
        "broken": 'package main\nfunc main() { nope() }\n',
    },
    "rust": {
        "hello": 'fn main() { println!("hello, world"); }\n',
        "echo": 'fn main() { let mut l = String::new(); std::io::stdin().read_line(&mut l).unwrap();\n'
                '  print!("{}", l); }\n',
        "broken": 'fn main() { nope(); }\n',
    },
    "haskell": {
        "hello": 'main = putStrLn "hello, world"\n',
        "echo": 'main = getLine >>= putStrLn\n',
        "broken": 'main = nope\n',
    },
    "ocaml": {
        "hello": 'let () = print_endline "hello, world"\n',
        "echo": 'let () = print_endline (read_line ())\n',
        "broken": 'let () = nope ()\n',
    },
    "java": {
        "hello": 'public class Main {\n  public static void main(String[] a) {\n'
                 '    System.out.println("hello, world");\n  }\n}\n',
        "echo": 'import java.util.Scanner;\npublic class Main {\n  public static void main(String[] a) {\n'
                '    System.out.println(new Scanner(System.in).nextLine());\n  }\n}\n',
        "broken": 'public class Main { void f() { nope(); } }\n',
    },
    "kotlin": {
        "hello": 'fun main() {\n  println("hello, world")\n}\n',
        "echo": 'fun main() {\n  println(readLine())\n}\n',
        "broken": 'fun main() { nope() }\n',
    },
    "groovy": {
        "hello": 'println "hello, world"\n',
        "echo": 'println System.in.newReader().readLine()\n',
    },
    "scala": {
        "hello": 'object Main {\n  def main(args: Array[String]): Unit = println("hello, world")\n}\n',
        "echo": 'object Main {\n  def main(args: Array[String]): Unit = println(scala.io.StdIn.readLine())\n}\n',
        "broken": 'object Main { def main(args: Array[String]): Unit = nope() }\n',
    },
    "clojure": {
        "hello": '(println "hello, world")\n',
        "echo": '(println (read-line))\n',
    },
    "erlang": {
        "hello": 'main(_) -> io:format("hello, world~n").\n',
        "echo": 'main(_) -> io:format("~s", [io:get_line("")]).\n',
    },
    "elixir": {
        "hello": 'IO.puts("hello, world")\n',
        "echo": 'IO.write(IO.gets(""))\n',
    },
    "csharp": {
        "hello": 'using System;\nclass Program {\n  static void Main() { Console.WriteLine("hello, world"); }\n}\n',
        "echo": 'using System;\nclass Program {\n  static void Main() { Console.WriteLine(Console.ReadLine()); }\n}\n',
        "broken": 'class Program { static void Main() { nope(); } }\n',
    },
    "octave": {
        "hello": 'disp("hello, world")\n',
        # input(), not fgetl(stdin): on a tty, octave's stdin stream never sees the line.
        "echo": 'disp(input("", "s"))\n',
    },
    "rscript": {
        "hello": 'cat("hello, world\\n")\n',
        "echo": 'cat(readLines(file("stdin"), n = 1), "\\n", sep = "")\n',
    },
}

# A shell command, run in the language's image, whose output names the toolchain's version.
VERSION_CMD = {
    "python": "python3 --version", "ipython": "ipython3 --version", "c": "gcc --version",
    "bash": "bash --version", "awk": "gawk --version", "perl": "perl -v", "lua": "lua5.4 -v",
    "ruby": "ruby -v", "php": "php -v", "tcl": "echo 'puts [info patchlevel]' | tclsh",
    "sqlite3": "sqlite3 --version", "scheme": "guile --version", "javascript": "node --version",
    "typescript": "tsc --version", "prolog": "swipl --version", "lisp": "sbcl --version",
    "racket": "racket --version", "c++": "g++ --version", "d": "gdc --version",
    "fortran": "gfortran --version", "nasm64": "nasm -v", "pascal": "fpc -iV",
    "nim": "nim --version", "go": "go version", "rust": "rustc --version", "haskell": "ghc --version",
    "ocaml": "ocamlopt -version", "java": "javac -version", "kotlin": "ls /usr/share/java/kotlin-stdlib-*.jar",
    "groovy": "ls /usr/share/java/groovy-all-*.jar", "scala": "ls /usr/share/java/scala-library-*.jar",
    "clojure": "ls /usr/share/java/clojure-*.jar",
    "erlang": "cat /usr/lib/erlang/releases/*/OTP_VERSION", "elixir": "ls -d /usr/lib/elixir/lib/elixir/ebin && elixir --version",
    "csharp": "mono --version", "octave": "octave-cli --version", "rscript": "Rscript --version",
}
