//! The only place that ends the process.

fn main() {
    let code = toozctl::main_with_args(std::env::args_os().collect());
    std::process::exit(code);
}
