
use builtin;
use str;

set edit:completion:arg-completer[toozctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'toozctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'toozctl'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand lock 'Hold a lock while COMMAND runs (flock across machines)'
            cand elect 'Run COMMAND only while leader of a group'
            cand group 'Inspect, join and manage groups (tooz''s layout: tooz clients see the same groups)'
            cand watch 'Print group, leader or lock events as they happen'
            cand locks 'List the locks on the backend: holder, age, TTL left, fencing token'
            cand unlock 'Break a lock (tooz''s break_) and say who held it'
            cand check 'Check that the backend can keep toozctl''s promises: versions, notifications, persistence, RTT, clock skew, TLS/auth'
            cand partition 'Print which group members own each item (tooz''s Partitioner: a consistent hash ring)'
            cand completions 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toozctl;lock'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -w 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]'
            cand --wait 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]'
            cand -E 'Exit status when not acquired (or not elected)'
            cand --conflict-exit-code 'Exit status when not acquired (or not elected)'
            cand -l 'Semaphore: up to N holders at once'
            cand --limit 'Semaphore: up to N holders at once'
            cand --ttl 'Lease for TTL-based backends (Redis, etcd), refreshed well before expiry; at least 1s [default: the URL''s lock_timeout]'
            cand --once-per 'Run COMMAND only if no run of NAME succeeded within DURATION on any machine sharing the backend (checked and recorded under the lock); otherwise exit with the conflict status (-E) without running. Runs count from their start, failed runs do not count. Clock: Redis TIME; ZooKeeper a node''s mtime (the leader''s clock); etcd a lease of DURATION (no clock in etcd); memcached stats time (whole seconds); MySQL NOW(6) and PostgreSQL clock_timestamp() (microseconds); file backend this machine''s clock'
            cand --on-lost 'What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore'
            cand --kill-after 'Grace after the first SIGTERM before SIGKILL goes to COMMAND''s whole process tree, never past the lease''s safe deadline [default: 10s, or half the lease when that is shorter]'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -n 'Fail at once if another holds it (the lock, or the group''s leadership)'
            cand --no-wait 'Fail at once if another holds it (the lock, or the group''s leadership)'
            cand -s 'Shared (reader) lock: readers share, an exclusive holder excludes them'
            cand --shared 'Shared (reader) lock: readers share, an exclusive holder excludes them'
            cand --record-command 'Record COMMAND''s words (up to 80 characters) in the holder record that other backend users can read, instead of only its program name'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;elect'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -w 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]'
            cand --wait 'Give up after DURATION (30s, 5m, 1h, plain seconds) [default: wait forever]'
            cand -E 'Exit status when not acquired (or not elected)'
            cand --conflict-exit-code 'Exit status when not acquired (or not elected)'
            cand --capabilities 'Capabilities as JSON, stored in tooz''s encoding'
            cand --on-lost 'What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore'
            cand --kill-after 'Grace after the first SIGTERM before SIGKILL goes to COMMAND''s whole process tree, never past the lease''s safe deadline [default: 10s, or half the lease when that is shorter]'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -n 'Fail at once if another holds it (the lock, or the group''s leadership)'
            cand --no-wait 'Fail at once if another holds it (the lock, or the group''s leadership)'
            cand --record-command 'Record COMMAND''s words (up to 80 characters) in the holder record that other backend users can read, instead of only its program name'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;group'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'List groups: name, member count, leader'
            cand members 'List a group''s members: id, capabilities, leader mark'
            cand join 'Be a member of a group while COMMAND runs'
            cand leave 'Leave a group, or remove another member by hand'
            cand create 'Create a group'
            cand delete 'Delete an empty group'
            cand leader 'Print a group''s current leader'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toozctl;group;list'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;group;members'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;group;join'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --capabilities 'Capabilities as JSON, stored in tooz''s encoding (tooz clients read the same dict)'
            cand --weight 'Join as tooz''s join_partitioned_group does: capabilities {"weight": N} (stored as tooz stores them), the group created if needed; `toozctl partition` and tooz''s Partitioner give this member N shares of the items'
            cand --on-lost 'What to do to COMMAND when the primitive is lost: term (SIGTERM, then SIGKILL after --kill-after), kill, or ignore'
            cand --kill-after 'Grace after the first SIGTERM before SIGKILL goes to COMMAND''s whole process tree, never past the lease''s safe deadline [default: 10s, or half the lease when that is shorter]'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand --create 'Create the group if it does not exist'
            cand --record-command 'Record COMMAND''s words (up to 80 characters) in the holder record that other backend users can read, instead of only its program name'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;group;leave'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --member 'The member to remove [default: our member id (-m, TOOZCTL_MEMBER_ID)]'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;group;create'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;group;delete'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;group;leader'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;group;help'= {
            cand list 'List groups: name, member count, leader'
            cand members 'List a group''s members: id, capabilities, leader mark'
            cand join 'Be a member of a group while COMMAND runs'
            cand leave 'Leave a group, or remove another member by hand'
            cand create 'Create a group'
            cand delete 'Delete an empty group'
            cand leader 'Print a group''s current leader'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toozctl;group;help;list'= {
        }
        &'toozctl;group;help;members'= {
        }
        &'toozctl;group;help;join'= {
        }
        &'toozctl;group;help;leave'= {
        }
        &'toozctl;group;help;create'= {
        }
        &'toozctl;group;help;delete'= {
        }
        &'toozctl;group;help;leader'= {
        }
        &'toozctl;group;help;help'= {
        }
        &'toozctl;watch'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -c 'Exit 0 after N events'
            cand --count 'Exit 0 after N events'
            cand --until 'Exit 0 after the first event of this kind'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand --exec 'Run COMMAND (after --) once per event'
            cand --fail-fast 'Stop the watch when a handler fails, exiting with its status'
            cand --initial 'First report the current state as events marked initial (a join per member, the leader, an acquired per holder), then the changes, with no gap and no duplicate'
            cand --must-exist 'Exit 4 when the group does not exist, instead of waiting for it to be created'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;locks'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -a 'Also list free locks the backend still knows of (holder empty)'
            cand --all 'Also list free locks the backend still knows of (holder empty)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;unlock'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;check'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;partition'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -r 'Owners per item (at most the number of members)'
            cand --replicas 'Owners per item (at most the number of members)'
            cand --partitions 'Points per unit of weight on the ring: tooz''s `partitions` argument (default 32, as tooz''s)'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand --mine 'Exit 0 when our member id owns every ITEM (one of --replicas owners), 1 when not; print nothing (but with -o json/yaml)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;completions'= {
            cand -b 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand --backend 'Backend URL in tooz syntax (file:///dir, redis://host:6379, zookeeper://h1,h2, etcd3+http://h:2379, memcached://h:11211, mysql://user@host/db, postgresql://user@host/db, ipc:// for this host''s System V semaphores); a password in it shows in `ps`: use --password-file or a profile''s password_file/password_env'
            cand -p 'A named profile from the config file'
            cand --profile 'A named profile from the config file'
            cand --config 'YAML config file [default: $XDG_CONFIG_HOME/toozctl/config.yaml, then /etc/toozctl/config.yaml]'
            cand --oslo-config 'Take backend_url (and member_id) from the [coordination] section of an OpenStack service config'
            cand --password-file 'Read the backend password from the first line of this file (keeps it out of `ps`, unlike a password in -b)'
            cand -m 'Member id [default: <hostname>-<pid>]'
            cand --member-id 'Member id [default: <hostname>-<pid>]'
            cand -o 'Output format'
            cand --output 'Output format'
            cand -v 'More logging on stderr (repeat for more)'
            cand --verbose 'More logging on stderr (repeat for more)'
            cand -q 'Less logging on stderr: only errors'
            cand --quiet 'Less logging on stderr: only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'toozctl;help'= {
            cand lock 'Hold a lock while COMMAND runs (flock across machines)'
            cand elect 'Run COMMAND only while leader of a group'
            cand group 'Inspect, join and manage groups (tooz''s layout: tooz clients see the same groups)'
            cand watch 'Print group, leader or lock events as they happen'
            cand locks 'List the locks on the backend: holder, age, TTL left, fencing token'
            cand unlock 'Break a lock (tooz''s break_) and say who held it'
            cand check 'Check that the backend can keep toozctl''s promises: versions, notifications, persistence, RTT, clock skew, TLS/auth'
            cand partition 'Print which group members own each item (tooz''s Partitioner: a consistent hash ring)'
            cand completions 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'toozctl;help;lock'= {
        }
        &'toozctl;help;elect'= {
        }
        &'toozctl;help;group'= {
            cand list 'List groups: name, member count, leader'
            cand members 'List a group''s members: id, capabilities, leader mark'
            cand join 'Be a member of a group while COMMAND runs'
            cand leave 'Leave a group, or remove another member by hand'
            cand create 'Create a group'
            cand delete 'Delete an empty group'
            cand leader 'Print a group''s current leader'
        }
        &'toozctl;help;group;list'= {
        }
        &'toozctl;help;group;members'= {
        }
        &'toozctl;help;group;join'= {
        }
        &'toozctl;help;group;leave'= {
        }
        &'toozctl;help;group;create'= {
        }
        &'toozctl;help;group;delete'= {
        }
        &'toozctl;help;group;leader'= {
        }
        &'toozctl;help;watch'= {
        }
        &'toozctl;help;locks'= {
        }
        &'toozctl;help;unlock'= {
        }
        &'toozctl;help;check'= {
        }
        &'toozctl;help;partition'= {
        }
        &'toozctl;help;completions'= {
        }
        &'toozctl;help;help'= {
        }
    ]
    $completions[$command]
}
