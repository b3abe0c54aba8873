//! One thing wrong with a request, and where: what the validation of settings (network,
//! time) reports for each field, and what the API returns as `problems`.

pub use api_types::Problem;
