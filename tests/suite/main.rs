//! The one integration-test binary (as cargo's, jj's and nextest's test suites are): the
//! real `toozctl` binary against real servers. `support/` starts and stops the servers and
//! holds the backend fixtures; `conformance/` holds the scenarios every backend must pass;
//! the other modules are what is specific to one backend or one command.

mod support;

mod conformance;

mod config;
mod elect;
mod etcd;
mod generated;
mod group;
mod help;
mod lock;
mod locks;
mod redis;
mod supervision;
mod watch;
mod zookeeper;
