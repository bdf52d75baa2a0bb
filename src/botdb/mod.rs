//! The bot's database, read through a validated [`mapping::Mapping`].

pub mod mapping;
