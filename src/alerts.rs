//! Alert lifecycle decisions. PLACEHOLDER.
