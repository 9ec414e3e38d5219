-- The fingerprint of the schema the warehouse was last made with (the view
-- ovom_schema, written after the schema's DDL ran). A connection that finds
-- the fingerprint of its own DDL here runs none of it. On a warehouse
-- without the view this fails, and the DDL runs.
SELECT fingerprint FROM ovom_schema
