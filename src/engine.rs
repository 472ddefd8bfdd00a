//! One check cycle. PLACEHOLDER.
