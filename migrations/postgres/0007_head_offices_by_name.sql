-- The Gebruikers list of an insurer admin (issue 8: 100,000 users in 10,000 offices) walks
-- the head offices by name, each followed by its sub-offices, and sorts only the users of
-- the offices a page reaches (store::users::list, LIST_OFFICES_WALK). `kind` first: the
-- walk asks for kind = 'head_office', an equality both databases can order by the rest.
-- The same file number exists in migrations/sqlite with the same index.
CREATE INDEX offices_kind_name ON offices (kind, name, id);
