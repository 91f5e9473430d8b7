# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_toozctl_global_optspecs
    string join \n b/backend= p/profile= config= oslo-config= password-file= m/member-id= o/output= v/verbose q/quiet h/help V/version
end

function __fish_toozctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_toozctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_toozctl_using_subcommand
    set -l cmd (__fish_toozctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c toozctl -n "__fish_toozctl_needs_command" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_needs_command" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_needs_command" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_needs_command" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_needs_command" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_needs_command" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_needs_command" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_needs_command" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_needs_command" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_needs_command" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "lock" -d 'Hold a lock while COMMAND runs (flock across machines)'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "elect" -d 'Run COMMAND only while leader of a group'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "group" -d 'Inspect, join and manage groups (tooz\'s layout: tooz clients see the same groups)'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "watch" -d 'Print group, leader or lock events as they happen'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "locks" -d 'List the locks on the backend: holder, age, TTL left, fencing token'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "unlock" -d 'Break a lock (tooz\'s break_) and say who held it'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "check" -d 'Check that the backend can keep toozctl\'s promises: versions, notifications, persistence, RTT, clock skew, TLS/auth'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "partition" -d 'Print which group members own each item (tooz\'s Partitioner: a consistent hash ring)'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c toozctl -n "__fish_toozctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s w -l wait -d 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s E -l conflict-exit-code -d 'Exit status when not acquired (or not elected)' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s l -l limit -d 'Semaphore: up to N holders at once' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -l ttl -d 'Lease for TTL-based backends (Redis, etcd), refreshed well before expiry; at least 1s [default: the URL\'s lock_timeout]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -l once-per -d 'Run COMMAND only if no run of NAME succeeded within DURATION on any machine sharing the backend (checked and recorded under the lock); otherwise exit with the conflict status (-E) without running. Runs count from their start, failed runs do not count. Clock: Redis TIME; ZooKeeper a node\'s mtime (the leader\'s clock); etcd a lease of DURATION (no clock in etcd); memcached stats time (whole seconds); MySQL NOW(6) and PostgreSQL clock_timestamp() (microseconds); file backend this machine\'s clock' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -l on-lost -d 'What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore' -r -f -a "term\t''
kill\t''
ignore\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -l kill-after -d 'Grace after the first SIGTERM before SIGKILL goes to COMMAND\'s whole process tree, never past the lease\'s safe deadline [default: 10s, or half the lease when that is shorter]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s n -l no-wait -d 'Fail at once if another holds it (the lock, or the group\'s leadership)'
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s s -l shared -d 'Shared (reader) lock: readers share, an exclusive holder excludes them'
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -l record-command -d 'Record COMMAND\'s words (up to 80 characters) in the holder record that other backend users can read, instead of only its program name'
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand lock" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s w -l wait -d 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s E -l conflict-exit-code -d 'Exit status when not acquired (or not elected)' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -l capabilities -d 'Capabilities as JSON, stored in tooz\'s encoding' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -l on-lost -d 'What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore' -r -f -a "term\t''
kill\t''
ignore\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -l kill-after -d 'Grace after the first SIGTERM before SIGKILL goes to COMMAND\'s whole process tree, never past the lease\'s safe deadline [default: 10s, or half the lease when that is shorter]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s n -l no-wait -d 'Fail at once if another holds it (the lock, or the group\'s leadership)'
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -l record-command -d 'Record COMMAND\'s words (up to 80 characters) in the holder record that other backend users can read, instead of only its program name'
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand elect" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -f -a "list" -d 'List groups: name, member count, leader'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -f -a "members" -d 'List a group\'s members: id, capabilities, leader mark'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -f -a "join" -d 'Be a member of a group while COMMAND runs'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -f -a "leave" -d 'Leave a group, or remove another member by hand'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -f -a "create" -d 'Create a group'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -f -a "delete" -d 'Delete an empty group'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -f -a "leader" -d 'Print a group\'s current leader'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and not __fish_seen_subcommand_from list members join leave create delete leader help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from members" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -l capabilities -d 'Capabilities as JSON, stored in tooz\'s encoding (tooz clients read the same dict)' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -l weight -d 'Join as tooz\'s join_partitioned_group does: capabilities {"weight": N} (stored as tooz stores them), the group created if needed; `toozctl partition` and tooz\'s Partitioner give this member N shares of the items' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -l on-lost -d 'What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore' -r -f -a "term\t''
kill\t''
ignore\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -l kill-after -d 'Grace after the first SIGTERM before SIGKILL goes to COMMAND\'s whole process tree, never past the lease\'s safe deadline [default: 10s, or half the lease when that is shorter]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -l create -d 'Create the group if it does not exist'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -l record-command -d 'Record COMMAND\'s words (up to 80 characters) in the holder record that other backend users can read, instead of only its program name'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from join" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -l member -d 'The member to remove [default: our member id (-m, TOOZCTL_MEMBER_ID)]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leave" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from leader" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "list" -d 'List groups: name, member count, leader'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "members" -d 'List a group\'s members: id, capabilities, leader mark'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "join" -d 'Be a member of a group while COMMAND runs'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "leave" -d 'Leave a group, or remove another member by hand'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a group'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete an empty group'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "leader" -d 'Print a group\'s current leader'
complete -c toozctl -n "__fish_toozctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -s c -l count -d 'Exit 0 after N events' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -l until -d 'Exit 0 after the first event of this kind' -r -f -a "join\t''
leave\t''
elected\t''
acquired\t''
released\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -l exec -d 'Run COMMAND (after --) once per event'
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -l fail-fast -d 'Stop the watch when a handler fails, exiting with its status'
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -l initial -d 'First report the current state as events marked initial (a join per member, the leader, an acquired per holder), then the changes, with no gap and no duplicate'
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -l must-exist -d 'Exit 4 when the group does not exist, instead of waiting for it to be created'
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand watch" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -s a -l all -d 'Also list free locks the backend still knows of (holder empty)'
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand locks" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand unlock" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand check" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -s r -l replicas -d 'Owners per item (at most the number of members)' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -l partitions -d 'Points per unit of weight on the ring: tooz\'s `partitions` argument (default 32, as tooz\'s)' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -l mine -d 'Exit 0 when our member id owns every ITEM (one of --replicas owners), 1 when not; print nothing (but with -o json/yaml)'
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand partition" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -s b -l backend -d 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host\'s System V semaphores); a password in it shows in `ps`: use --password-file or a profile\'s password_file/password_env' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -s p -l profile -d 'A named profile from the config file' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -l config -d 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -l oslo-config -d 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -l password-file -d 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)' -r -F
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -s m -l member-id -d 'Member id [default: <hostname>-<pid>]' -r
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -s o -l output -d 'Output format' -r -f -a "text\t'Tables on a terminal, plain lines otherwise'
json\t''
yaml\t''"
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -s v -l verbose -d 'More logging on stderr (repeat for more)'
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -s q -l quiet -d 'Less logging on stderr: only errors'
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c toozctl -n "__fish_toozctl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "lock" -d 'Hold a lock while COMMAND runs (flock across machines)'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "elect" -d 'Run COMMAND only while leader of a group'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "group" -d 'Inspect, join and manage groups (tooz\'s layout: tooz clients see the same groups)'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "watch" -d 'Print group, leader or lock events as they happen'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "locks" -d 'List the locks on the backend: holder, age, TTL left, fencing token'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "unlock" -d 'Break a lock (tooz\'s break_) and say who held it'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "check" -d 'Check that the backend can keep toozctl\'s promises: versions, notifications, persistence, RTT, clock skew, TLS/auth'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "partition" -d 'Print which group members own each item (tooz\'s Partitioner: a consistent hash ring)'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and not __fish_seen_subcommand_from lock elect group watch locks unlock check partition completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "list" -d 'List groups: name, member count, leader'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "members" -d 'List a group\'s members: id, capabilities, leader mark'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "join" -d 'Be a member of a group while COMMAND runs'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "leave" -d 'Leave a group, or remove another member by hand'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "create" -d 'Create a group'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "delete" -d 'Delete an empty group'
complete -c toozctl -n "__fish_toozctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "leader" -d 'Print a group\'s current leader'
