//! `--help` of healthctl, each of its commands, and healthmon, rendered
//! with COLUMNS=80: every line fits, and every flag has help text.

use std::process::Command;

const HEALTHCTL: &str = env!("CARGO_BIN_EXE_healthctl");
const HEALTHMON: &str = env!("CARGO_BIN_EXE_healthmon");

fn help(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).arg("--help").env("COLUMNS", "80").output().expect("run");
    assert!(out.status.success(), "{program} {args:?} --help: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The commands listed in `healthctl --help` (so new ones are covered too).
fn commands(top: &str) -> Vec<String> {
    top.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

/// Lines within 80 columns, and no option line that is only a flag.
fn check(what: &str, text: &str) {
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{what}: {} columns: {line:?}", line.chars().count());
        let trimmed = line.trim_start();
        if trimmed.starts_with('-') {
            let flag_only = !trimmed.contains("  ");
            assert!(!flag_only, "{what}: flag without help: {line:?}");
        }
    }
}

/// healthctl and every one of its commands.
#[test]
fn healthctl_help_fits_80_columns_and_every_flag_has_help() {
    let top = help(HEALTHCTL, &[]);
    check("healthctl", &top);
    let commands = commands(&top);
    assert!(commands.len() >= 8, "{commands:?}");
    for command in &commands {
        check(&format!("healthctl {command}"), &help(HEALTHCTL, &[command]));
    }
}

/// healthmon's one page of flags.
#[test]
fn healthmon_help_fits_80_columns_and_every_flag_has_help() {
    let text = help(HEALTHMON, &[]);
    check("healthmon", &text);
    assert!(text.contains("--verbose"), "{text}");
}
