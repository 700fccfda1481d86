fn main() -> std::process::ExitCode {
    oailb::cli::main()
}
