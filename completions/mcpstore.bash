# bash completion for mcpstore. Generated from the CLI; do not edit by hand.
# Regenerate: python -m mcpstore_cli.cli.completion_files --write completions/
# Install: source this file, or copy it to
# ~/.local/share/bash-completion/completions/mcpstore

# Sets, for the command path in $1: _mcpstore_subs (subcommands), _mcpstore_opts
# (all options), _mcpstore_vopts (options that take a value) and _mcpstore_args (how
# each positional argument completes: none, choice:N, file, dir or path; a trailing *
# repeats the last).
__mcpstore_spec() {
    case "$1" in
        "")
            _mcpstore_subs="backup clear completion delete demo expire list metrics restore setup show state stats tail-events tasks teardown terminate top touch"
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --url --version"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url"
            _mcpstore_args=""
            ;;
        "backup")
            _mcpstore_subs="list"
            _mcpstore_opts="--backend --connect-timeout --debug --force --format -f --help -h --include-secrets --layout --level --lock-timeout --native --output -o --quiet -q --segments --session --since --table --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --level --lock-timeout --output -o --segments --session --since --table --url"
            _mcpstore_args=""
            ;;
        "backup list")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --dir --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --url"
            _mcpstore_vopts="--backend --connect-timeout --dir --format -f --layout --lock-timeout --segments --table --url"
            _mcpstore_args=""
            ;;
        "clear")
            _mcpstore_subs=""
            _mcpstore_opts="--all-collections --backend --connect-timeout --debug --dry-run --format -f --help -h --layout --lock-timeout --quiet -q --recreate --segments --table --url --yes -y"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url"
            _mcpstore_args=""
            ;;
        "completion")
            _mcpstore_subs=""
            _mcpstore_opts="--help -h"
            _mcpstore_vopts=""
            _mcpstore_args="choice:0"
            ;;
        "delete")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --url --yes -y"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url"
            _mcpstore_args="none*"
            ;;
        "demo")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --duration --events-per-session -e --help -h --idle-share --layout --live --lock-timeout --quiet -q --rate --seed --segments --sessions -s --table --terminated-share --url"
            _mcpstore_vopts="--backend --connect-timeout --duration --events-per-session -e --idle-share --layout --lock-timeout --rate --seed --segments --sessions -s --table --terminated-share --url"
            _mcpstore_args=""
            ;;
        "expire")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --batch-size --connect-timeout --debug --dry-run --format -f --help -h --idle --jobs --layout --lock-timeout --max-events-per-session --orphans --quiet -q --rate --segment --segments --table --terminated --terminated-grace --time-budget --url"
            _mcpstore_vopts="--backend --batch-size --connect-timeout --format -f --idle --jobs --layout --lock-timeout --max-events-per-session --rate --segment --segments --table --terminated-grace --time-budget --url"
            _mcpstore_args=""
            ;;
        "list")
            _mcpstore_subs=""
            _mcpstore_opts="--active --backend --connect-timeout --created-after --created-before --cursor --debug --format -f --graph --help -h --idle-over --initialized --not-initialized --layout --limit -n --lock-timeout --quiet -q --segments --table --terminated --not-terminated --timeout --url"
            _mcpstore_vopts="--backend --connect-timeout --created-after --created-before --cursor --format -f --graph --idle-over --layout --limit -n --lock-timeout --segments --table --timeout --url"
            _mcpstore_args=""
            ;;
        "metrics")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --force --help -h --layout --lock-timeout --output -o --quiet -q --segments --stuck-for --table --timeout --url"
            _mcpstore_vopts="--backend --connect-timeout --layout --lock-timeout --output -o --segments --stuck-for --table --timeout --url"
            _mcpstore_args=""
            ;;
        "restore")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --keep-ttl --layout --lock-timeout --mode --native --quiet -q --segments --table --to-table --url --yes -y"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --mode --native --segments --table --to-table --url"
            _mcpstore_args="file"
            ;;
        "setup")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --check --connect-timeout --create-database --debug --dry-run --format -f --help -h --layout --lock-timeout --notify --pitr --quiet -q --segments --stream --no-stream --table --tag --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --table --tag --url"
            _mcpstore_args=""
            ;;
        "show")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --events -e --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --timeout --url"
            _mcpstore_vopts="--backend --connect-timeout --events -e --format -f --layout --lock-timeout --segments --table --timeout --url"
            _mcpstore_args="none"
            ;;
        "state")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url"
            _mcpstore_args="none none none none"
            ;;
        "stats")
            _mcpstore_subs=""
            _mcpstore_opts="--approximate --backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --timeout --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --table --timeout --url"
            _mcpstore_args=""
            ;;
        "tail-events")
            _mcpstore_subs=""
            _mcpstore_opts="--after --backend --connect-timeout --count -n --debug --follow --no-follow --format -f --help -h --layout --lock-timeout --quiet -q --segments --session -s --since --table --url"
            _mcpstore_vopts="--after --backend --connect-timeout --count -n --format -f --layout --lock-timeout --segments --session -s --since --table --url"
            _mcpstore_args=""
            ;;
        "tasks")
            _mcpstore_subs="cancel expire list recover show stats"
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url"
            _mcpstore_args=""
            ;;
        "tasks cancel")
            _mcpstore_subs=""
            _mcpstore_opts="--any-owner --backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url"
            _mcpstore_args="none"
            ;;
        "tasks expire")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --batch-size --connect-timeout --debug --delete-terminal-after --dry-run --format -f --help -h --honour-ttl --jobs --layout --lock-timeout --orphan-after --quiet -q --rate --segments --table --time-budget --url"
            _mcpstore_vopts="--backend --batch-size --connect-timeout --delete-terminal-after --format -f --jobs --layout --lock-timeout --orphan-after --rate --segments --table --time-budget --url"
            _mcpstore_args=""
            ;;
        "tasks list")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --cursor --debug --format -f --help -h --layout --limit -n --lock-timeout --method --quiet -q --segments --session --status --stuck-for --table --url"
            _mcpstore_vopts="--backend --connect-timeout --cursor --format -f --layout --limit -n --lock-timeout --method --segments --session --status --stuck-for --table --url"
            _mcpstore_args=""
            ;;
        "tasks recover")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --batch-size --connect-timeout --debug --dry-run --format -f --help -h --layout --lock-timeout --quiet -q --segments --stuck-for --table --url"
            _mcpstore_vopts="--backend --batch-size --connect-timeout --format -f --layout --lock-timeout --segments --stuck-for --table --url"
            _mcpstore_args=""
            ;;
        "tasks show")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url"
            _mcpstore_args="none"
            ;;
        "tasks stats")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --stuck-for --table --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --stuck-for --table --url"
            _mcpstore_args=""
            ;;
        "teardown")
            _mcpstore_subs=""
            _mcpstore_opts="--all --backend --backup --backup-file --clear-data --connect-timeout --debug --delete --disable-streams --dry-run --force --format -f --help -h --layout --lock-timeout --quiet -q --segments --table --url --yes -y"
            _mcpstore_vopts="--backend --backup-file --connect-timeout --format -f --layout --lock-timeout --segments --table --url"
            _mcpstore_args=""
            ;;
        "terminate")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --session-ttl --table --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --session-ttl --table --url"
            _mcpstore_args="none*"
            ;;
        "top")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --interval -n --layout --lock-timeout --once --quiet -q --segments --table --timeout --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --interval -n --layout --lock-timeout --segments --table --timeout --url"
            _mcpstore_args=""
            ;;
        "touch")
            _mcpstore_subs=""
            _mcpstore_opts="--backend --connect-timeout --debug --format -f --help -h --layout --lock-timeout --quiet -q --segments --session-ttl --table --url"
            _mcpstore_vopts="--backend --connect-timeout --format -f --layout --lock-timeout --segments --session-ttl --table --url"
            _mcpstore_args="none*"
            ;;
        *)
            _mcpstore_subs="" _mcpstore_opts="" _mcpstore_vopts="" _mcpstore_args=""
            ;;
    esac
}

# Sets _mcpstore_kind (choice, file, dir, path or none) and _mcpstore_choices for
# the value of option $2 of the command path $1.
__mcpstore_value() {
    _mcpstore_choices=""
    case "$1|$2" in
        "|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "|--format"|"|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv pretty sse" ;;
        "|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "backup|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "backup|--format"|"backup|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "backup|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "backup|--output"|"backup|-o") _mcpstore_kind=file ;;
        "backup list|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "backup list|--dir") _mcpstore_kind=dir ;;
        "backup list|--format"|"backup list|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "backup list|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "clear|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "clear|--format"|"clear|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "clear|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "delete|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "delete|--format"|"delete|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "delete|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "demo|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "demo|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "expire|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "expire|--format"|"expire|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "expire|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "list|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "list|--format"|"list|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "list|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "metrics|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "metrics|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "metrics|--output"|"metrics|-o") _mcpstore_kind=file ;;
        "restore|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "restore|--format"|"restore|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "restore|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "restore|--mode") _mcpstore_kind=choice _mcpstore_choices="merge replace" ;;
        "setup|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "setup|--format"|"setup|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "setup|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "show|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "show|--format"|"show|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "show|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "state|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "state|--format"|"state|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "state|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "stats|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "stats|--format"|"stats|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "stats|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "tail-events|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "tail-events|--format"|"tail-events|-f") _mcpstore_kind=choice _mcpstore_choices="pretty sse jsonl" ;;
        "tail-events|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "tasks|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "tasks|--format"|"tasks|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv pretty sse" ;;
        "tasks|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "tasks cancel|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "tasks cancel|--format"|"tasks cancel|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv pretty sse" ;;
        "tasks cancel|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "tasks expire|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "tasks expire|--format"|"tasks expire|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv pretty sse" ;;
        "tasks expire|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "tasks list|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "tasks list|--format"|"tasks list|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "tasks list|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "tasks recover|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "tasks recover|--format"|"tasks recover|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv pretty sse" ;;
        "tasks recover|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "tasks show|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "tasks show|--format"|"tasks show|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "tasks show|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "tasks stats|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "tasks stats|--format"|"tasks stats|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "tasks stats|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "teardown|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "teardown|--backup-file") _mcpstore_kind=file ;;
        "teardown|--format"|"teardown|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "teardown|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "terminate|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "terminate|--format"|"terminate|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "terminate|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "top|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "top|--format"|"top|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "top|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        "touch|--backend") _mcpstore_kind=choice _mcpstore_choices="sqlite postgres dynamodb redis" ;;
        "touch|--format"|"touch|-f") _mcpstore_kind=choice _mcpstore_choices="table json jsonl csv" ;;
        "touch|--layout") _mcpstore_kind=choice _mcpstore_choices="sessions graphflow tasks ext-tasks server-state fastmcp" ;;
        *) _mcpstore_kind=none ;;
    esac
}

# The choices of positional argument kinds choice:N.
__mcpstore_choice_set() {
    case "$1" in
        0) _mcpstore_choices="bash zsh fish" ;;
        *) _mcpstore_choices="" ;;
    esac
}

__mcpstore_complete_kind() {
    # $1: kind, $2: the word being completed
    case "$1" in
        choice)
            COMPREPLY=($(compgen -W "$_mcpstore_choices" -- "$2"))
            ;;
        file | path)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$2"))
            ;;
        dir)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -d -- "$2"))
            ;;
        *)
            COMPREPLY=()
            ;;
    esac
}

_mcpstore() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local _mcpstore_subs _mcpstore_opts _mcpstore_vopts _mcpstore_args
    local _mcpstore_kind _mcpstore_choices
    local path="" word pending="" positional=0 i=1 only_args=""
    __mcpstore_spec ""
    # Walk the words before the cursor: find the subcommand path, skip option values.
    while ((i < COMP_CWORD)); do
        word="${COMP_WORDS[i]}"
        ((i++))
        if [[ -n $pending ]]; then
            [[ $word == "=" ]] || pending=""
            continue
        fi
        if [[ -z $only_args && $word == "--" ]]; then
            only_args=1
        elif [[ -z $only_args && $word == -* ]]; then
            if [[ $word != *=* && " $_mcpstore_vopts " == *" $word "* ]]; then
                pending="$word"
            fi
        elif [[ $positional == 0 && " $_mcpstore_subs " == *" $word "* ]]; then
            path="${path:+$path }$word"
            __mcpstore_spec "$path"
        else
            ((positional++))
        fi
    done
    # --option=value split by COMP_WORDBREAKS: the words are --option, = and value.
    if [[ $cur == "=" && -n $pending ]]; then
        cur=""
    elif [[ -z $pending && $COMP_CWORD -ge 3 &&
        "${COMP_WORDS[COMP_CWORD-1]}" == "=" ]]; then
        word="${COMP_WORDS[COMP_CWORD-2]}"
        [[ " $_mcpstore_vopts " == *" $word "* ]] && pending="$word"
    fi
    if [[ -n $pending ]]; then
        __mcpstore_value "$path" "$pending"
        __mcpstore_complete_kind "$_mcpstore_kind" "$cur"
        return 0
    fi
    if [[ -z $only_args && $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$_mcpstore_opts" -- "$cur"))
        return 0
    fi
    if [[ $positional == 0 && -n $_mcpstore_subs ]]; then
        COMPREPLY=($(compgen -W "$_mcpstore_subs" -- "$cur"))
        return 0
    fi
    local -a kinds=($_mcpstore_args)
    local kind="${kinds[positional]}"
    if [[ -z $kind && ${#kinds[@]} -gt 0 && ${kinds[${#kinds[@]}-1]} == *"*" ]]; then
        kind="${kinds[${#kinds[@]}-1]}"
    fi
    kind="${kind%"*"}"
    if [[ $kind == choice:* ]]; then
        __mcpstore_choice_set "${kind#choice:}"
        kind=choice
    fi
    if [[ -z $kind && ${#kinds[@]} -eq 0 && -z $only_args ]]; then
        # Nothing positional to complete: offer the options.
        COMPREPLY=($(compgen -W "$_mcpstore_opts" -- "$cur"))
        return 0
    fi
    __mcpstore_complete_kind "$kind" "$cur"
    return 0
}

complete -F _mcpstore mcpstore
