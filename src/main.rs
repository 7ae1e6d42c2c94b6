fn main() -> std::process::ExitCode {
    inquest::cli::main()
}
