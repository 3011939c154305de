fn main() {
  println('OK')
}