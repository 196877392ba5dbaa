use clap::Parser;

fn main() -> std::process::ExitCode {
    nkflow::cli::run(nkflow::cli::Cli::parse())
}
