# fish completion for mcpstore. Generated from the CLI; do not edit by hand.
# Regenerate: python -m mcpstore_cli.cli.completion_files --write completions/
# Install: copy to ~/.config/fish/completions/mcpstore.fish

# Subcommands and value-taking options of the command path in $argv.
function __mcpstore_subcommands
    switch "$argv"
        case ''
            echo backup clear completion delete demo expire list metrics restore setup show state stats tail-events tasks teardown terminate top touch
        case 'backup'
            echo list
        case 'tasks'
            echo cancel expire list recover show stats
    end
end

function __mcpstore_value_options
    switch "$argv"
        case ''
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url
        case 'backup'
            echo --backend --connect-timeout --format -f --layout --level --lock-timeout --output -o --segments --session --since --table --url
        case 'backup list'
            echo --backend --connect-timeout --dir --format -f --layout --lock-timeout --segments --table --url
        case 'clear'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url
        case 'delete'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url
        case 'demo'
            echo --backend --connect-timeout --duration --events-per-session -e --idle-share --layout --lock-timeout --rate --seed --segments --sessions -s --table --terminated-share --url
        case 'expire'
            echo --backend --batch-size --connect-timeout --format -f --idle --jobs --layout --lock-timeout --max-events-per-session --rate --segment --segments --table --terminated-grace --time-budget --url
        case 'list'
            echo --backend --connect-timeout --created-after --created-before --cursor --format -f --graph --idle-over --layout --limit -n --lock-timeout --segments --table --timeout --url
        case 'metrics'
            echo --backend --connect-timeout --layout --lock-timeout --output -o --segments --stuck-for --table --timeout --url
        case 'restore'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --mode --native --segments --table --to-table --url
        case 'setup'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --table --tag --url
        case 'show'
            echo --backend --connect-timeout --events -e --format -f --layout --lock-timeout --segments --table --timeout --url
        case 'state'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url
        case 'stats'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --table --timeout --url
        case 'tail-events'
            echo --after --backend --connect-timeout --count -n --format -f --layout --lock-timeout --segments --session -s --since --table --url
        case 'tasks'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url
        case 'tasks cancel'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url
        case 'tasks expire'
            echo --backend --batch-size --connect-timeout --delete-terminal-after --format -f --jobs --layout --lock-timeout --orphan-after --rate --segments --table --time-budget --url
        case 'tasks list'
            echo --backend --connect-timeout --cursor --format -f --layout --limit -n --lock-timeout --method --segments --session --status --stuck-for --table --url
        case 'tasks recover'
            echo --backend --batch-size --connect-timeout --format -f --layout --lock-timeout --segments --stuck-for --table --url
        case 'tasks show'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --table --url
        case 'tasks stats'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --stuck-for --table --url
        case 'teardown'
            echo --backend --backup-file --connect-timeout --format -f --layout --lock-timeout --segments --table --url
        case 'terminate'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --session-ttl --table --url
        case 'top'
            echo --backend --connect-timeout --format -f --interval -n --layout --lock-timeout --segments --table --timeout --url
        case 'touch'
            echo --backend --connect-timeout --format -f --layout --lock-timeout --segments --session-ttl --table --url
    end
end

# The subcommand path of the command line so far (option values skipped).
function __mcpstore_path
    set -l tokens (commandline -opc)
    set -l path
    set -l skip 0
    for tok in $tokens[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $tok
            case '-*'
                if not string match -q -- '*=*' $tok
                    and contains -- $tok \
                        (string split " " -- (__mcpstore_value_options "$path"))
                    set skip 1
                end
            case '*'
                if contains -- $tok \
                        (string split " " -- (__mcpstore_subcommands "$path"))
                    set -a path $tok
                else
                    break
                end
        end
    end
    echo "$path"
end

function __mcpstore_at
    set -l here (__mcpstore_path)
    test "$here" = "$argv"
end

complete -c mcpstore -f

# mcpstore
complete -c mcpstore -n '__mcpstore_at' -a 'backup' -d 'Write a consistent, verified backup (portable file, or --native); see backup...'
complete -c mcpstore -n '__mcpstore_at' -a 'clear' -d 'Delete every session and event (or every record of a task or server-state lay...'
complete -c mcpstore -n '__mcpstore_at' -a 'completion' -d 'Print the shell completion script (static: TAB never starts Python).'
complete -c mcpstore -n '__mcpstore_at' -a 'delete' -d 'Remove sessions with all their events (asks first; --yes skips the question).'
complete -c mcpstore -n '__mcpstore_at' -a 'demo' -d 'Fill a store with realistic sessions and events (creating the store if needed).'
complete -c mcpstore -n '__mcpstore_at' -a 'expire' -d 'Remove idle (and ended) sessions with their events, trim, drop orphaned events.'
complete -c mcpstore -n '__mcpstore_at' -a 'list' -d 'List sessions, newest activity first, a page at a time (keyset pagination).'
complete -c mcpstore -n '__mcpstore_at' -a 'metrics' -d 'The store\'s figures in Prometheus\' text format; reading never changes anything.'
complete -c mcpstore -n '__mcpstore_at' -a 'restore' -d 'Load a backup file into any store (same or another backend).'
complete -c mcpstore -n '__mcpstore_at' -a 'setup' -d 'Create the store\'s tables and indexes, idempotently, in the servers\' exact la...'
complete -c mcpstore -n '__mcpstore_at' -a 'show' -d 'One session: capabilities, state, metadata, event count and its last events.'
complete -c mcpstore -n '__mcpstore_at' -a 'state' -d 'Print a session\'s state, one key of it (get), or change one key (set, unset)...'
complete -c mcpstore -n '__mcpstore_at' -a 'stats' -d 'Counts, events per session, age histograms, storage size and backend facts.'
complete -c mcpstore -n '__mcpstore_at' -a 'tail-events' -d 'Follow events as the server stores them (start at the end; Ctrl-C stops).'
complete -c mcpstore -n '__mcpstore_at' -a 'tasks' -d 'turul\'s task stores: list, show, stats, expire, recover, cancel.'
complete -c mcpstore -n '__mcpstore_at' -a 'teardown' -d 'Take a store apart: choose among clear data, back up first, disable streams a...'
complete -c mcpstore -n '__mcpstore_at' -a 'terminate' -d 'End sessions as the server does on HTTP DELETE: state.terminated and terminat...'
complete -c mcpstore -n '__mcpstore_at' -a 'top' -d 'A live view of the store: sessions by status, arrivals and expiries per minut...'
complete -c mcpstore -n '__mcpstore_at' -a 'touch' -d 'Mark sessions active now (last_activity; DynamoDB\'s ttl and FastMCP\'s expirie...'
complete -c mcpstore -n '__mcpstore_at' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at' -l format -s f -x -a 'table json jsonl csv pretty sse' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'
complete -c mcpstore -n '__mcpstore_at' -l version -d 'Print the version and exit.'

# mcpstore backup
complete -c mcpstore -n '__mcpstore_at backup' -a 'list' -d 'List backup files in --dir (portable files, SQLite native copies, interrupted...'
complete -c mcpstore -n '__mcpstore_at backup' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at backup' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at backup' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at backup' -l force -d 'Replace an existing file of that name (never the store\'s own files or a SQLit...'
complete -c mcpstore -n '__mcpstore_at backup' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at backup' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at backup' -l include-secrets -d 'fastmcp layout: also the other collections (the OAuth proxy\'s clients and tok...'
complete -c mcpstore -n '__mcpstore_at backup' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at backup' -l level -x -d 'zstd compression level (1 fastest ..'
complete -c mcpstore -n '__mcpstore_at backup' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at backup' -l native -d 'A backend-native backup instead: SQLite\'s online backup API (a copy of the da...'
complete -c mcpstore -n '__mcpstore_at backup' -l output -s o -r -F -d 'The backup file (a directory: a default name in it) [default: <store>-<UTC ti...'
complete -c mcpstore -n '__mcpstore_at backup' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at backup' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at backup' -l session -x -d 'Only this session: its id, or a unique prefix of 4 or more characters (repeat...'
complete -c mcpstore -n '__mcpstore_at backup' -l since -x -d 'Only sessions active since then (a duration ago like 2h, a date, an ISO time...'
complete -c mcpstore -n '__mcpstore_at backup' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at backup' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore backup list
complete -c mcpstore -n '__mcpstore_at backup list' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at backup list' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at backup list' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at backup list' -l dir -x -a '(__fish_complete_directories)' -d 'Where to look for backup files.'
complete -c mcpstore -n '__mcpstore_at backup list' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at backup list' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at backup list' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at backup list' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at backup list' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at backup list' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at backup list' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at backup list' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore clear
complete -c mcpstore -n '__mcpstore_at clear' -l all-collections -d 'fastmcp layout: also the other collections of the store (the OAuth proxy\'s cl...'
complete -c mcpstore -n '__mcpstore_at clear' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at clear' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at clear' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at clear' -l dry-run -d 'Print what would be destroyed (tables, counts, sizes); change nothing.'
complete -c mcpstore -n '__mcpstore_at clear' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at clear' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at clear' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at clear' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at clear' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at clear' -l recreate -d 'DynamoDB: delete and recreate both tables with identical settings instead of...'
complete -c mcpstore -n '__mcpstore_at clear' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at clear' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at clear' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'
complete -c mcpstore -n '__mcpstore_at clear' -l yes -s y -d 'Do it without asking (scripts, CI); still previews.'

# mcpstore completion
complete -c mcpstore -n '__mcpstore_at completion' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at completion' -a 'bash zsh fish' -d 'The shell: bash, zsh or fish.'

# mcpstore delete
complete -c mcpstore -n '__mcpstore_at delete' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at delete' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at delete' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at delete' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at delete' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at delete' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at delete' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at delete' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at delete' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at delete' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at delete' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'
complete -c mcpstore -n '__mcpstore_at delete' -l yes -s y -d 'Do not ask for confirmation.'

# mcpstore demo
complete -c mcpstore -n '__mcpstore_at demo' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at demo' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at demo' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at demo' -l duration -x -d 'With --live: stop after this long (default: Ctrl-C).'
complete -c mcpstore -n '__mcpstore_at demo' -l events-per-session -s e -x -d 'Mean events per session (exact total).'
complete -c mcpstore -n '__mcpstore_at demo' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at demo' -l idle-share -x -d 'Share of sessions idle past 30m.'
complete -c mcpstore -n '__mcpstore_at demo' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at demo' -l live -d 'Then keep adding events like a running server.'
complete -c mcpstore -n '__mcpstore_at demo' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at demo' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at demo' -l rate -x -d 'With --live: events per second.'
complete -c mcpstore -n '__mcpstore_at demo' -l seed -x -d 'Make the data reproducible.'
complete -c mcpstore -n '__mcpstore_at demo' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at demo' -l sessions -s s -x -d 'Sessions to create.'
complete -c mcpstore -n '__mcpstore_at demo' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at demo' -l terminated-share -x -d 'Share of sessions the client ended.'
complete -c mcpstore -n '__mcpstore_at demo' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore expire
complete -c mcpstore -n '__mcpstore_at expire' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at expire' -l batch-size -x -d 'Sessions per transaction (bounded transactions; fastmcp layout: entries, up t...'
complete -c mcpstore -n '__mcpstore_at expire' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at expire' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at expire' -l dry-run -d 'Count what would go and show a sample; change nothing.'
complete -c mcpstore -n '__mcpstore_at expire' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at expire' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at expire' -l idle -x -d 'Remove sessions idle longer than this (the server\'s default timeout is 30m).'
complete -c mcpstore -n '__mcpstore_at expire' -l jobs -x -d 'fastmcp layout on PostgreSQL: delete on N connections at once (faster, and N...'
complete -c mcpstore -n '__mcpstore_at expire' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at expire' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at expire' -l max-events-per-session -x -d 'Trim every session to its newest N events.'
complete -c mcpstore -n '__mcpstore_at expire' -l orphans -d 'fastmcp layout: also trim stream lists naming missing events and remove event...'
complete -c mcpstore -n '__mcpstore_at expire' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at expire' -l rate -x -d 'At most this many rows deleted per second (caps DynamoDB write units).'
complete -c mcpstore -n '__mcpstore_at expire' -l segment -x -d 'DynamoDB: do scan segment I of N (0-based), so N hosts share one pass.'
complete -c mcpstore -n '__mcpstore_at expire' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at expire' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at expire' -l terminated -d 'Also remove sessions the client ended.'
complete -c mcpstore -n '__mcpstore_at expire' -l terminated-grace -x -d 'With --terminated: only those ended longer ago than this.'
complete -c mcpstore -n '__mcpstore_at expire' -l time-budget -x -d 'Stop cleanly after this long; exit 5 and say what is left.'
complete -c mcpstore -n '__mcpstore_at expire' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore list
complete -c mcpstore -n '__mcpstore_at list' -l active -d 'Only sessions active within --timeout, not ended.'
complete -c mcpstore -n '__mcpstore_at list' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at list' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at list' -l created-after -x -d 'Created after: 2026-11-21, an ISO time, Unix ms, or a duration ago (2h).'
complete -c mcpstore -n '__mcpstore_at list' -l created-before -x -d 'Created before (same forms).'
complete -c mcpstore -n '__mcpstore_at list' -l cursor -x -d 'Continue after this position (printed by the last page).'
complete -c mcpstore -n '__mcpstore_at list' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at list' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at list' -l graph -x -d 'Only sessions of this graph (layouts whose sessions run graphs: graphflow).'
complete -c mcpstore -n '__mcpstore_at list' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at list' -l idle-over -x -d 'Only sessions idle longer than this (e.g.'
complete -c mcpstore -n '__mcpstore_at list' -l initialized -d 'Only (not) initialized sessions.'
complete -c mcpstore -n '__mcpstore_at list' -l not-initialized -d 'Only (not) initialized sessions.'
complete -c mcpstore -n '__mcpstore_at list' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at list' -l limit -s n -x -d 'Sessions per page; 0 lists all (streamed).'
complete -c mcpstore -n '__mcpstore_at list' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at list' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at list' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at list' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at list' -l terminated -d 'Only sessions the client ended / not.'
complete -c mcpstore -n '__mcpstore_at list' -l not-terminated -d 'Only sessions the client ended / not.'
complete -c mcpstore -n '__mcpstore_at list' -l timeout -x -d 'Session timeout that separates active from idle (the server\'s default: 30m).'
complete -c mcpstore -n '__mcpstore_at list' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore metrics
complete -c mcpstore -n '__mcpstore_at metrics' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at metrics' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at metrics' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at metrics' -l force -d 'Replace any existing FILE.'
complete -c mcpstore -n '__mcpstore_at metrics' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at metrics' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at metrics' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at metrics' -l output -s o -r -F -d 'Write here atomically (temporary file + rename), e.g.'
complete -c mcpstore -n '__mcpstore_at metrics' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at metrics' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at metrics' -l stuck-for -x -d 'Task layouts: a live task not updated for this long counts as stuck.'
complete -c mcpstore -n '__mcpstore_at metrics' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at metrics' -l timeout -x -d 'Session timeout that separates active from idle (the server\'s default: 30m).'
complete -c mcpstore -n '__mcpstore_at metrics' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore restore
complete -c mcpstore -n '__mcpstore_at restore' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at restore' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at restore' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at restore' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at restore' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at restore' -l keep-ttl -d 'DynamoDB: keep the backup\'s ttl instead of recomputing it from now.'
complete -c mcpstore -n '__mcpstore_at restore' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at restore' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at restore' -l mode -x -a 'merge replace' -d 'merge: add the sessions the store lacks, leave the others (running it twice c...'
complete -c mcpstore -n '__mcpstore_at restore' -l native -x -d 'DynamoDB: restore this on-demand backup (see backup list) into new tables.'
complete -c mcpstore -n '__mcpstore_at restore' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at restore' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at restore' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at restore' -l to-table -x -d 'With --native: the new sessions table (events go to NEW-events).'
complete -c mcpstore -n '__mcpstore_at restore' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'
complete -c mcpstore -n '__mcpstore_at restore' -l yes -s y -d 'Do not ask (replace).'
complete -c mcpstore -n '__mcpstore_at restore' -F

# mcpstore setup
complete -c mcpstore -n '__mcpstore_at setup' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at setup' -l check -d 'Compare the live store with the layout; exit 3 naming each difference.'
complete -c mcpstore -n '__mcpstore_at setup' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at setup' -l create-database -d 'PostgreSQL: create the database if missing.'
complete -c mcpstore -n '__mcpstore_at setup' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at setup' -l dry-run -d 'Print the DDL / API calls instead of running them.'
complete -c mcpstore -n '__mcpstore_at setup' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at setup' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at setup' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at setup' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at setup' -l notify -d 'PostgreSQL: install the trigger tail-events listens to (with --check: require...'
complete -c mcpstore -n '__mcpstore_at setup' -l pitr -d 'DynamoDB: enable point-in-time recovery.'
complete -c mcpstore -n '__mcpstore_at setup' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at setup' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at setup' -l stream -d 'DynamoDB: a NEW_IMAGE stream on the events table.'
complete -c mcpstore -n '__mcpstore_at setup' -l no-stream -d 'DynamoDB: a NEW_IMAGE stream on the events table.'
complete -c mcpstore -n '__mcpstore_at setup' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at setup' -l tag -x -d 'DynamoDB: a tag on both tables (repeatable).'
complete -c mcpstore -n '__mcpstore_at setup' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore show
complete -c mcpstore -n '__mcpstore_at show' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at show' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at show' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at show' -l events -s e -x -d 'How many of the last events to show.'
complete -c mcpstore -n '__mcpstore_at show' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at show' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at show' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at show' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at show' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at show' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at show' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at show' -l timeout -x -d 'Session timeout that separates active from idle (the server\'s default: 30m).'
complete -c mcpstore -n '__mcpstore_at show' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore state
complete -c mcpstore -n '__mcpstore_at state' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at state' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at state' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at state' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at state' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at state' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at state' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at state' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at state' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at state' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at state' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore stats
complete -c mcpstore -n '__mcpstore_at stats' -l approximate -d 'DynamoDB: use the tables\' item counts, no scan.'
complete -c mcpstore -n '__mcpstore_at stats' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at stats' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at stats' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at stats' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at stats' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at stats' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at stats' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at stats' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at stats' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at stats' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at stats' -l timeout -x -d 'Session timeout that separates active from idle (the server\'s default: 30m).'
complete -c mcpstore -n '__mcpstore_at stats' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore tail-events
complete -c mcpstore -n '__mcpstore_at tail-events' -l after -x -d 'Start after this event id, like a client\'s Last-Event-ID (DynamoDB: needs --s...'
complete -c mcpstore -n '__mcpstore_at tail-events' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at tail-events' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at tail-events' -l count -s n -x -d 'Stop after this many events.'
complete -c mcpstore -n '__mcpstore_at tail-events' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at tail-events' -l follow -d 'Keep following; --no-follow prints what is stored (all of it, unless --after/...'
complete -c mcpstore -n '__mcpstore_at tail-events' -l no-follow -d 'Keep following; --no-follow prints what is stored (all of it, unless --after/...'
complete -c mcpstore -n '__mcpstore_at tail-events' -l format -s f -x -a 'pretty sse jsonl' -d 'pretty (UTC time, session, id, type, JSON), sse (the server\'s wire form) or j...'
complete -c mcpstore -n '__mcpstore_at tail-events' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at tail-events' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at tail-events' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at tail-events' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at tail-events' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at tail-events' -l session -s s -x -d 'Only this session\'s events: its id, or a unique prefix of 4 or more characters.'
complete -c mcpstore -n '__mcpstore_at tail-events' -l since -x -d 'Start with events stored this long ago (e.g.'
complete -c mcpstore -n '__mcpstore_at tail-events' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at tail-events' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore tasks
complete -c mcpstore -n '__mcpstore_at tasks' -a 'cancel' -d 'Cancel a live task as the server would (a finished task is refused, exit 1).'
complete -c mcpstore -n '__mcpstore_at tasks' -a 'expire' -d 'Delete expired tasks as the server\'s rules say (the cron job; it asks nothing).'
complete -c mcpstore -n '__mcpstore_at tasks' -a 'list' -d 'List tasks in the server\'s order (created, then id), a page at a time.'
complete -c mcpstore -n '__mcpstore_at tasks' -a 'recover' -d 'Fail stuck live tasks as the server\'s recovery does on restart.'
complete -c mcpstore -n '__mcpstore_at tasks' -a 'show' -d 'One task: its status, params, result or error, meta (the ext-tasks document t...'
complete -c mcpstore -n '__mcpstore_at tasks' -a 'stats' -d 'Counts by status and method, stuck and past-ttl tasks, ages, the oldest live...'
complete -c mcpstore -n '__mcpstore_at tasks' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at tasks' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at tasks' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at tasks' -l format -s f -x -a 'table json jsonl csv pretty sse' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at tasks' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at tasks' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at tasks' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at tasks' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at tasks' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at tasks' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at tasks' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore tasks cancel
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l any-owner -d 'ext-tasks: also a task of another owner.'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l format -s f -x -a 'table json jsonl csv pretty sse' -d 'Print the outcome as json (or jsonl, csv).'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at tasks cancel' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore tasks expire
complete -c mcpstore -n '__mcpstore_at tasks expire' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l batch-size -x -d 'Tasks read and changed at a time [default: 500; 20,000 on the tasks layout on...'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l delete-terminal-after -x -d 'ext-tasks: delete finished tasks this long after their last update.'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l dry-run -d 'Count what would go and show a sample; change nothing.'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l format -s f -x -a 'table json jsonl csv pretty sse' -d 'Print the summary as json (or jsonl, csv).'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l honour-ttl -d 'ext-tasks: live tasks past their ttlMs fail.'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l jobs -x -d 'Delete on N connections at once (tasks layout on PostgreSQL): faster, and N t...'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l orphan-after -x -d 'ext-tasks: live tasks without an update for this long fail as abandoned.'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l rate -x -d 'At most N deletes per second.'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l time-budget -x -d 'Stop after this long (exit 5 when more was left to do).'
complete -c mcpstore -n '__mcpstore_at tasks expire' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore tasks list
complete -c mcpstore -n '__mcpstore_at tasks list' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at tasks list' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at tasks list' -l cursor -x -d 'Continue after this position (printed by the last page).'
complete -c mcpstore -n '__mcpstore_at tasks list' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at tasks list' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at tasks list' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at tasks list' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at tasks list' -l limit -s n -x -d 'Tasks per page; 0 lists all (streamed).'
complete -c mcpstore -n '__mcpstore_at tasks list' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at tasks list' -l method -x -d 'Only tasks of this method (tools/call, ...).'
complete -c mcpstore -n '__mcpstore_at tasks list' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at tasks list' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at tasks list' -l session -x -d 'Only tasks of this session.'
complete -c mcpstore -n '__mcpstore_at tasks list' -l status -x -d 'Only tasks in this status (repeatable): working, input_required, completed, f...'
complete -c mcpstore -n '__mcpstore_at tasks list' -l stuck-for -x -d 'Only live tasks (working, input_required) not updated for this long.'
complete -c mcpstore -n '__mcpstore_at tasks list' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at tasks list' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore tasks recover
complete -c mcpstore -n '__mcpstore_at tasks recover' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l batch-size -x -d 'Tasks read and changed at a time.'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l dry-run -d 'Count and show a sample; change nothing.'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l format -s f -x -a 'table json jsonl csv pretty sse' -d 'Print the summary as json (or jsonl, csv).'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l stuck-for -x -d 'Live tasks not updated for this long become failed (required).'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at tasks recover' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore tasks show
complete -c mcpstore -n '__mcpstore_at tasks show' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at tasks show' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at tasks show' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at tasks show' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at tasks show' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at tasks show' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at tasks show' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at tasks show' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at tasks show' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at tasks show' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at tasks show' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore tasks stats
complete -c mcpstore -n '__mcpstore_at tasks stats' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l stuck-for -x -d 'A live task not updated for this long counts as stuck.'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at tasks stats' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore teardown
complete -c mcpstore -n '__mcpstore_at teardown' -l all -d 'Every step that applies to the store.'
complete -c mcpstore -n '__mcpstore_at teardown' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at teardown' -l backup -d 'Write a backup file before anything is destroyed.'
complete -c mcpstore -n '__mcpstore_at teardown' -l backup-file -r -F -d 'Where --backup writes [default: a new file in the current directory].'
complete -c mcpstore -n '__mcpstore_at teardown' -l clear-data -d 'Delete every session and event (or the layout\'s records).'
complete -c mcpstore -n '__mcpstore_at teardown' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at teardown' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at teardown' -l delete -d 'Delete the tables (SQLite: the file with its -wal/-shm; PostgreSQL: also mcps...'
complete -c mcpstore -n '__mcpstore_at teardown' -l disable-streams -d 'DynamoDB: turn off the tables\' streams.'
complete -c mcpstore -n '__mcpstore_at teardown' -l dry-run -d 'Print what would be destroyed (tables, counts, sizes); change nothing.'
complete -c mcpstore -n '__mcpstore_at teardown' -l force -d 'Replace an existing file of that name (never the store\'s own files or a SQLit...'
complete -c mcpstore -n '__mcpstore_at teardown' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at teardown' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at teardown' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at teardown' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at teardown' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at teardown' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at teardown' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at teardown' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'
complete -c mcpstore -n '__mcpstore_at teardown' -l yes -s y -d 'Do it without asking (scripts, CI); still previews.'

# mcpstore terminate
complete -c mcpstore -n '__mcpstore_at terminate' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at terminate' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at terminate' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at terminate' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at terminate' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at terminate' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at terminate' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at terminate' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at terminate' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at terminate' -l session-ttl -x -d 'DynamoDB: the session TTL the server runs with; ttl becomes now plus this [de...'
complete -c mcpstore -n '__mcpstore_at terminate' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at terminate' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore top
complete -c mcpstore -n '__mcpstore_at top' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at top' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at top' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at top' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at top' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at top' -l interval -s n -x -d 'Time between refreshes.'
complete -c mcpstore -n '__mcpstore_at top' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at top' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at top' -l once -d 'Print one reading (as --format says) and exit.'
complete -c mcpstore -n '__mcpstore_at top' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at top' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at top' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at top' -l timeout -x -d 'Session timeout that separates active from idle (the server\'s default: 30m).'
complete -c mcpstore -n '__mcpstore_at top' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'

# mcpstore touch
complete -c mcpstore -n '__mcpstore_at touch' -l backend -x -a 'sqlite postgres dynamodb redis' -d 'Use this backend\'s usual variables (SQLITE_PATH; DATABASE_URL; MCP_SESSION_TA...'
complete -c mcpstore -n '__mcpstore_at touch' -l connect-timeout -x -d 'How long to wait for the store to answer (10s, 500ms; a plain number is secon...'
complete -c mcpstore -n '__mcpstore_at touch' -l debug -d 'Show tracebacks of errors (also: MCPSTORE_DEBUG=1).'
complete -c mcpstore -n '__mcpstore_at touch' -l format -s f -x -a 'table json jsonl csv' -d 'Output format [default: table on a terminal, jsonl otherwise].'
complete -c mcpstore -n '__mcpstore_at touch' -l help -s h -d 'Show this message and exit.'
complete -c mcpstore -n '__mcpstore_at touch' -l layout -x -a 'sessions graphflow tasks ext-tasks server-state fastmcp' -d 'The layout: sessions (turul\'s sessions and events; what setup and demo create...'
complete -c mcpstore -n '__mcpstore_at touch' -l lock-timeout -x -d 'PostgreSQL: give up when another client holds a lock longer than this (5s, 1m...'
complete -c mcpstore -n '__mcpstore_at touch' -l quiet -s q -d 'Print nothing but data and errors.'
complete -c mcpstore -n '__mcpstore_at touch' -l segments -x -d 'DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the table s...'
complete -c mcpstore -n '__mcpstore_at touch' -l session-ttl -x -d 'DynamoDB: the session TTL the server runs with; ttl becomes now plus this [de...'
complete -c mcpstore -n '__mcpstore_at touch' -l table -x -d 'fastmcp layout on PostgreSQL: the key-value table [default: kv_store].'
complete -c mcpstore -n '__mcpstore_at touch' -l url -x -d 'The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, sqlite:////ab...'
