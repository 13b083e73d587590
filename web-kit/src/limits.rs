//! Request limits every part of the portal shares (SECURITY IO-05, AV-06). It holds the
//! numbers only; each part applies them where it reads a request.

/// The largest request body any part accepts; our largest form is a few kB. A larger
/// body gets 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The largest CSV file of head offices the insurer's console imports at once (issue 6):
/// about 50,000 rows. Only the import routes accept it; they read their body themselves.
pub const IMPORT_LIMIT: usize = 5 * 1024 * 1024;
