//! The one integration-test binary (as cargo's, jj's and nextest's test suites are): the
//! real `toozctl` binary against real servers. `support/` starts and stops the servers and
//! holds the backend fixtures; `conformance/` holds the scenarios every backend must pass;
//! the other modules are what is specific to one backend or one command.

mod support;

mod conformance;

mod cgroup_ahead;
mod clusters;
mod config;
mod elect;
mod etcd;
mod etcd_faults;
mod etcd_waiter_lease;
mod file_security;
mod generated;
mod group;
mod guard_fork;
mod help;
mod hostile_input;
mod install;
mod ipc;
mod lock;
mod locks;
mod memcached;
mod memcached_handoff;
mod memcached_listing;
mod mysql;
mod postgres;
mod redis;
mod redis_faults;
mod redis_shared;
mod sql_handoff;
mod sql_tokens;
mod supervision;
mod torture;
mod watch;
mod zookeeper;
mod zookeeper_close;
mod zookeeper_faults;
mod zookeeper_watch_churn;
