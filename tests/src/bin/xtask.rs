//! `cargo xtask`: strata's command line for this repository, linking its example domain.

fn main() -> std::process::ExitCode {
    strata_tests::link();
    strata_xtask::main()
}
