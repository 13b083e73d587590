//! Request limits every part of the portal shares (SECURITY IO-05, AV-06). It holds the
//! numbers only; each part applies them where it reads a request.

/// The largest request body any part accepts; our largest form is a few kB. A larger
/// body gets 413.
pub const BODY_LIMIT: usize = 64 * 1024;
