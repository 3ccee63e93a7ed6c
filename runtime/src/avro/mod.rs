//! The Avro machinery, over the ground floor only: Confluent's textual forms of a schema
//! ([`canonical`]), compatibility as the Schema Registry decides it ([`compat`]), schema
//! references made one schema ([`references`]), and the general resolver of foreign writer
//! schemas ([`resolve`]).

pub mod canonical;
pub mod compat;
pub mod references;
pub mod resolve;
