
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'toozctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'toozctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'toozctl' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('lock', 'lock', [CompletionResultType]::ParameterValue, 'Hold a lock while COMMAND runs (flock across machines)')
            [CompletionResult]::new('elect', 'elect', [CompletionResultType]::ParameterValue, 'Run COMMAND only while leader of a group')
            [CompletionResult]::new('group', 'group', [CompletionResultType]::ParameterValue, 'Inspect, join and manage groups (tooz''s layout: tooz clients see the same groups)')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Print group, leader or lock events as they happen')
            [CompletionResult]::new('locks', 'locks', [CompletionResultType]::ParameterValue, 'List the locks on the backend: holder, age, TTL left, fencing token')
            [CompletionResult]::new('unlock', 'unlock', [CompletionResultType]::ParameterValue, 'Break a lock (tooz''s break_) and say who held it')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check that the backend can keep toozctl''s promises: versions, notifications, persistence, RTT, clock skew, TLS/auth')
            [CompletionResult]::new('partition', 'partition', [CompletionResultType]::ParameterValue, 'Print which group members own each item (tooz''s Partitioner: a consistent hash ring)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, elvish, powershell)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toozctl;lock' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]')
            [CompletionResult]::new('-E', '-E ', [CompletionResultType]::ParameterName, 'Exit status when not acquired (or not elected)')
            [CompletionResult]::new('--conflict-exit-code', '--conflict-exit-code', [CompletionResultType]::ParameterName, 'Exit status when not acquired (or not elected)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Semaphore: up to N holders at once')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Semaphore: up to N holders at once')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'Lease for TTL-based backends (Redis, etcd), refreshed well before expiry; at least 1s [default: the URL''s lock_timeout]')
            [CompletionResult]::new('--once-per', '--once-per', [CompletionResultType]::ParameterName, 'Run COMMAND only if no run of NAME succeeded within DURATION on any machine sharing the backend (checked and recorded under the lock); otherwise exit with the conflict status (-E) without running. Runs count from their start, failed runs do not count. Clock: Redis TIME; ZooKeeper a node''s mtime (the leader''s clock); etcd a lease of DURATION (no clock in etcd); memcached stats time (whole seconds); MySQL NOW(6) and PostgreSQL clock_timestamp() (microseconds); file backend this machine''s clock')
            [CompletionResult]::new('--on-lost', '--on-lost', [CompletionResultType]::ParameterName, 'What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace after the first SIGTERM before SIGKILL goes to COMMAND''s whole process tree, never past the lease''s safe deadline [default: 10s, or half the lease when that is shorter]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Fail at once if another holds it (the lock, or the group''s leadership)')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, 'Fail at once if another holds it (the lock, or the group''s leadership)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Shared (reader) lock: readers share, an exclusive holder excludes them')
            [CompletionResult]::new('--shared', '--shared', [CompletionResultType]::ParameterName, 'Shared (reader) lock: readers share, an exclusive holder excludes them')
            [CompletionResult]::new('--record-command', '--record-command', [CompletionResultType]::ParameterName, 'Record COMMAND''s words (up to 80 characters) in the holder record that other backend users can read, instead of only its program name')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;elect' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]')
            [CompletionResult]::new('-E', '-E ', [CompletionResultType]::ParameterName, 'Exit status when not acquired (or not elected)')
            [CompletionResult]::new('--conflict-exit-code', '--conflict-exit-code', [CompletionResultType]::ParameterName, 'Exit status when not acquired (or not elected)')
            [CompletionResult]::new('--capabilities', '--capabilities', [CompletionResultType]::ParameterName, 'Capabilities as JSON, stored in tooz''s encoding')
            [CompletionResult]::new('--on-lost', '--on-lost', [CompletionResultType]::ParameterName, 'What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace after the first SIGTERM before SIGKILL goes to COMMAND''s whole process tree, never past the lease''s safe deadline [default: 10s, or half the lease when that is shorter]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Fail at once if another holds it (the lock, or the group''s leadership)')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, 'Fail at once if another holds it (the lock, or the group''s leadership)')
            [CompletionResult]::new('--record-command', '--record-command', [CompletionResultType]::ParameterName, 'Record COMMAND''s words (up to 80 characters) in the holder record that other backend users can read, instead of only its program name')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;group' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List groups: name, member count, leader')
            [CompletionResult]::new('members', 'members', [CompletionResultType]::ParameterValue, 'List a group''s members: id, capabilities, leader mark')
            [CompletionResult]::new('join', 'join', [CompletionResultType]::ParameterValue, 'Be a member of a group while COMMAND runs')
            [CompletionResult]::new('leave', 'leave', [CompletionResultType]::ParameterValue, 'Leave a group, or remove another member by hand')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a group')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an empty group')
            [CompletionResult]::new('leader', 'leader', [CompletionResultType]::ParameterValue, 'Print a group''s current leader')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toozctl;group;list' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;group;members' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;group;join' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--capabilities', '--capabilities', [CompletionResultType]::ParameterName, 'Capabilities as JSON, stored in tooz''s encoding (tooz clients read the same dict)')
            [CompletionResult]::new('--weight', '--weight', [CompletionResultType]::ParameterName, 'Join as tooz''s join_partitioned_group does: capabilities {"weight": N} (stored as tooz stores them), the group created if needed; `toozctl partition` and tooz''s Partitioner give this member N shares of the items')
            [CompletionResult]::new('--on-lost', '--on-lost', [CompletionResultType]::ParameterName, 'What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore')
            [CompletionResult]::new('--kill-after', '--kill-after', [CompletionResultType]::ParameterName, 'Grace after the first SIGTERM before SIGKILL goes to COMMAND''s whole process tree, never past the lease''s safe deadline [default: 10s, or half the lease when that is shorter]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--create', '--create', [CompletionResultType]::ParameterName, 'Create the group if it does not exist')
            [CompletionResult]::new('--record-command', '--record-command', [CompletionResultType]::ParameterName, 'Record COMMAND''s words (up to 80 characters) in the holder record that other backend users can read, instead of only its program name')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;group;leave' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--member', '--member', [CompletionResultType]::ParameterName, 'The member to remove [default: our member id (-m, TOOZCTL_MEMBER_ID)]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;group;create' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;group;delete' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;group;leader' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;group;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List groups: name, member count, leader')
            [CompletionResult]::new('members', 'members', [CompletionResultType]::ParameterValue, 'List a group''s members: id, capabilities, leader mark')
            [CompletionResult]::new('join', 'join', [CompletionResultType]::ParameterValue, 'Be a member of a group while COMMAND runs')
            [CompletionResult]::new('leave', 'leave', [CompletionResultType]::ParameterValue, 'Leave a group, or remove another member by hand')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a group')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an empty group')
            [CompletionResult]::new('leader', 'leader', [CompletionResultType]::ParameterValue, 'Print a group''s current leader')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toozctl;group;help;list' {
            break
        }
        'toozctl;group;help;members' {
            break
        }
        'toozctl;group;help;join' {
            break
        }
        'toozctl;group;help;leave' {
            break
        }
        'toozctl;group;help;create' {
            break
        }
        'toozctl;group;help;delete' {
            break
        }
        'toozctl;group;help;leader' {
            break
        }
        'toozctl;group;help;help' {
            break
        }
        'toozctl;watch' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Exit 0 after N events')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Exit 0 after N events')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Exit 0 after the first event of this kind')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run COMMAND (after --) once per event')
            [CompletionResult]::new('--fail-fast', '--fail-fast', [CompletionResultType]::ParameterName, 'Stop the watch when a handler fails, exiting with its status')
            [CompletionResult]::new('--initial', '--initial', [CompletionResultType]::ParameterName, 'First report the current state as events marked initial (a join per member, the leader, an acquired per holder), then the changes, with no gap and no duplicate')
            [CompletionResult]::new('--must-exist', '--must-exist', [CompletionResultType]::ParameterName, 'Exit 4 when the group does not exist, instead of waiting for it to be created')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;locks' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Also list free locks the backend still knows of (holder empty)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Also list free locks the backend still knows of (holder empty)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;unlock' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;check' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;partition' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Owners per item (at most the number of members)')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Owners per item (at most the number of members)')
            [CompletionResult]::new('--partitions', '--partitions', [CompletionResultType]::ParameterName, 'Points per unit of weight on the ring: tooz''s `partitions` argument (default 32, as tooz''s)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--mine', '--mine', [CompletionResultType]::ParameterName, 'Exit 0 when our member id owns every ITEM (one of --replicas owners), 1 when not; print nothing (but with -o json/yaml)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;completions' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'A named profile from the config file')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]')
            [CompletionResult]::new('--oslo-config', '--oslo-config', [CompletionResultType]::ParameterName, 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('--member-id', '--member-id', [CompletionResultType]::ParameterName, 'Member id [default: <hostname>-<pid>]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More logging on stderr (repeat for more)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Less logging on stderr: only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'toozctl;help' {
            [CompletionResult]::new('lock', 'lock', [CompletionResultType]::ParameterValue, 'Hold a lock while COMMAND runs (flock across machines)')
            [CompletionResult]::new('elect', 'elect', [CompletionResultType]::ParameterValue, 'Run COMMAND only while leader of a group')
            [CompletionResult]::new('group', 'group', [CompletionResultType]::ParameterValue, 'Inspect, join and manage groups (tooz''s layout: tooz clients see the same groups)')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Print group, leader or lock events as they happen')
            [CompletionResult]::new('locks', 'locks', [CompletionResultType]::ParameterValue, 'List the locks on the backend: holder, age, TTL left, fencing token')
            [CompletionResult]::new('unlock', 'unlock', [CompletionResultType]::ParameterValue, 'Break a lock (tooz''s break_) and say who held it')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check that the backend can keep toozctl''s promises: versions, notifications, persistence, RTT, clock skew, TLS/auth')
            [CompletionResult]::new('partition', 'partition', [CompletionResultType]::ParameterValue, 'Print which group members own each item (tooz''s Partitioner: a consistent hash ring)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (bash, zsh, fish, elvish, powershell)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'toozctl;help;lock' {
            break
        }
        'toozctl;help;elect' {
            break
        }
        'toozctl;help;group' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List groups: name, member count, leader')
            [CompletionResult]::new('members', 'members', [CompletionResultType]::ParameterValue, 'List a group''s members: id, capabilities, leader mark')
            [CompletionResult]::new('join', 'join', [CompletionResultType]::ParameterValue, 'Be a member of a group while COMMAND runs')
            [CompletionResult]::new('leave', 'leave', [CompletionResultType]::ParameterValue, 'Leave a group, or remove another member by hand')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a group')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an empty group')
            [CompletionResult]::new('leader', 'leader', [CompletionResultType]::ParameterValue, 'Print a group''s current leader')
            break
        }
        'toozctl;help;group;list' {
            break
        }
        'toozctl;help;group;members' {
            break
        }
        'toozctl;help;group;join' {
            break
        }
        'toozctl;help;group;leave' {
            break
        }
        'toozctl;help;group;create' {
            break
        }
        'toozctl;help;group;delete' {
            break
        }
        'toozctl;help;group;leader' {
            break
        }
        'toozctl;help;watch' {
            break
        }
        'toozctl;help;locks' {
            break
        }
        'toozctl;help;unlock' {
            break
        }
        'toozctl;help;check' {
            break
        }
        'toozctl;help;partition' {
            break
        }
        'toozctl;help;completions' {
            break
        }
        'toozctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
