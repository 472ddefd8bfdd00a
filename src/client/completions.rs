//! Worker names in the shell completions: clap generates the scripts from
//! the command definition, and this adds, for the commands that take a
//! worker (`start`, `stop`, `restart`, `worker`, `logs`), the names the
//! running daemon lists (`healthctl __workers`, i.e. ListWorkers). With no
//! daemon reachable the completion simply offers nothing.

use clap_complete::Shell;

/// The subcommands whose positional arguments are worker names.
const WORKER_COMMANDS: &str = "start stop restart worker logs";

/// `script` (clap's) plus the worker-name completion where the shell allows it.
pub fn with_worker_names(shell: Shell, script: &str) -> String {
    match shell {
        Shell::Bash => format!("{script}\n{}", bash()),
        Shell::Fish => format!("{script}\n{}", fish()),
        Shell::Zsh => zsh(script),
        _ => script.to_string(),
    }
}

/// Wraps clap's `_healthctl`: after a worker command, a word that is not an
/// option completes from the daemon's worker names.
fn bash() -> String {
    format!(
        r#"# Worker names from the running daemon (healthctl __workers).
_healthctl_workers() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" word
    for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
        case " {WORKER_COMMANDS} " in
            *" $word "*)
                if [[ "$cur" != -* ]]; then
                    COMPREPLY=( $(compgen -W "$(healthctl __workers 2>/dev/null)" -- "$cur") )
                    return 0
                fi ;;
        esac
    done
    _healthctl "$@"
}}
complete -F _healthctl_workers -o nosort -o bashdefault -o default healthctl
"#
    )
}

fn fish() -> String {
    format!(
        "# Worker names from the running daemon (healthctl __workers).\n\
         complete -c healthctl -n \"__fish_seen_subcommand_from {WORKER_COMMANDS}\" -f -a \"(healthctl __workers 2>/dev/null)\"\n"
    )
}

/// clap's zsh script completes the worker arguments (`workers`, `name`)
/// with `_default`; point those at a function that asks the daemon,
/// defined before the script's last lines run `_healthctl`.
fn zsh(script: &str) -> String {
    let function = "# Worker names from the running daemon (healthctl __workers).\n\
                    _healthctl_worker_names() {\n    local -a names\n    names=(${(f)\"$(healthctl __workers 2>/dev/null)\"})\n    _describe -t workers 'worker' names\n}\n\n";
    let script = script
        .replace("'*::workers:_default'", "'*::workers:_healthctl_worker_names'")
        .replace("':name:_default'", "':name:_healthctl_worker_names'");
    match script.find("if [ \"$funcstack[1]\" = \"_healthctl\" ]") {
        Some(at) => format!("{}{function}{}", &script[..at], &script[at..]),
        None => format!("{script}\n{function}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zsh WORKER arguments complete through the daemon, the rest is untouched.
    #[test]
    fn zsh_worker_arguments_ask_the_daemon() {
        let script = "'*::workers:_default' \\\n':id:_default' \\\nif [ \"$funcstack[1]\" = \"_healthctl\" ]; then";
        let out = zsh(script);
        assert!(out.contains("'*::workers:_healthctl_worker_names'"), "{out}");
        assert!(out.contains("':id:_default'"), "{out}");
        let defined = out.find("_healthctl_worker_names() {").expect("function defined");
        assert!(defined < out.find("if [ \"$funcstack").expect("tail kept"), "{out}");
    }
}
