-- The dashboards (P4) at scale (issue 8: 1,000,000 quotes, chains with tens of thousands): a
-- page is read newest first straight from an index on the reader's scope, ending in the id
-- that breaks ties of created_at, so no database sorts a tree's quotes for 25 rows; and the
-- office filter's list of a tree's offices is read from a covering index in its order.
-- The same file number exists in migrations/products/postgres with the same indexes.
-- The new indexes are built before the old ones go, so reads keep an index meanwhile (the
-- DROP's exclusive lock is then held only for the moment of the drop).
CREATE INDEX quotes_head_office_newest ON quotes (head_office_id, created_at, id);
CREATE INDEX quotes_office_newest ON quotes (office_id, created_at, id);
CREATE INDEX quotes_head_office_offices ON quotes (head_office_id, office_name, office_number, office_id, product);
DROP INDEX quotes_head_office;
DROP INDEX quotes_office;
