//! The network surface: the HTTPS listener serving the API, the port-80 redirect, their
//! connection caps and timeouts, the console's local socket, and the self-check that proves the HTTPS listener really
//! answers.

pub(crate) mod https;
pub(crate) mod limits;
pub(crate) mod local;
pub(crate) mod redirect;
pub(crate) mod selfcheck;
