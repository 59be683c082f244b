"""The case store's tables as SQLite DDL, the exact statements SQLAlchemy's `create_all`
writes for `haven.store.models` (tests/store/test_case_schema.py keeps the two identical).

A new case is created from these statements with the standard library's `sqlite3`, so
`haven scan` does not import SQLAlchemy (~0.2 CPU-s) to create one; every other part of haven
reads and writes the same tables through the models. A model changed without this file fails
that test, which prints the statements to put here.
"""

SCHEMA = (
    (
        'CREATE TABLE hashsets (\n'
        '\tid INTEGER NOT NULL, \n'
        '\tname VARCHAR(200) NOT NULL, \n'
        '\tknown_good BOOLEAN NOT NULL, \n'
        '\tformat VARCHAR(20) NOT NULL, \n'
        '\tscheme VARCHAR(40), \n'
        '\tsource_path TEXT NOT NULL, \n'
        '\tsource_sha256 VARCHAR(64) NOT NULL, \n'
        '\tversion INTEGER NOT NULL, \n'
        '\timported_at DATETIME NOT NULL, \n'
        '\tentry_count INTEGER NOT NULL, \n'
        '\tmalformed_count INTEGER NOT NULL, \n'
        '\tPRIMARY KEY (id), \n'
        '\tUNIQUE (name)\n'
        ')'
    ),
    (
        'CREATE TABLE seizures (\n'
        '\tid INTEGER NOT NULL, \n'
        '\tname TEXT NOT NULL, \n'
        '\tsource_path TEXT NOT NULL, \n'
        '\tsha256 VARCHAR(64), \n'
        '\tsize INTEGER, \n'
        '\tstarted_at DATETIME NOT NULL, \n'
        '\tfinished_at DATETIME, \n'
        '\tstamp TEXT, \n'
        '\thistory JSON, \n'
        '\textractions JSON, \n'
        '\tPRIMARY KEY (id), \n'
        '\tUNIQUE (name)\n'
        ')'
    ),
    (
        'CREATE TABLE hash_entries (\n'
        '\tid INTEGER NOT NULL, \n'
        '\thashset_id INTEGER NOT NULL, \n'
        '\tmd5 VARCHAR(32), \n'
        '\tsha1 VARCHAR(40), \n'
        '\tsha256 VARCHAR(64), \n'
        '\tpdq VARCHAR(64), \n'
        '\tsha512 VARCHAR(128), \n'
        '\tcategory VARCHAR(60), \n'
        '\tscheme VARCHAR(40), \n'
        '\tseries TEXT, \n'
        '\tvictim_identified BOOLEAN, \n'
        '\tline INTEGER, \n'
        '\tadded_at DATETIME NOT NULL, \n'
        '\textra JSON NOT NULL, \n'
        '\tPRIMARY KEY (id), \n'
        '\tFOREIGN KEY(hashset_id) REFERENCES hashsets (id) ON DELETE CASCADE\n'
        ')'
    ),
    'CREATE INDEX ix_hash_entries_sha1 ON hash_entries (sha1)',
    'CREATE INDEX ix_hash_entries_hashset_id ON hash_entries (hashset_id)',
    'CREATE INDEX ix_hash_entries_md5 ON hash_entries (md5)',
    'CREATE INDEX ix_hash_entries_sha256 ON hash_entries (sha256)',
    (
        'CREATE TABLE import_problems (\n'
        '\tid INTEGER NOT NULL, \n'
        '\thashset_id INTEGER NOT NULL, \n'
        '\tline INTEGER NOT NULL, \n'
        '\treason TEXT NOT NULL, \n'
        '\tPRIMARY KEY (id), \n'
        '\tFOREIGN KEY(hashset_id) REFERENCES hashsets (id) ON DELETE CASCADE\n'
        ')'
    ),
    'CREATE INDEX ix_import_problems_hashset_id ON import_problems (hashset_id)',
    (
        'CREATE TABLE items (\n'
        '\tid INTEGER NOT NULL, \n'
        '\tseizure_id INTEGER NOT NULL, \n'
        '\tpath TEXT NOT NULL, \n'
        '\tsize INTEGER, \n'
        '\tmime VARCHAR(80), \n'
        '\tmedia VARCHAR(10), \n'
        '\textension_mismatch BOOLEAN NOT NULL, \n'
        '\tmd5 VARCHAR(32), \n'
        '\tsha1 VARCHAR(40), \n'
        '\tsha256 VARCHAR(64), \n'
        '\tpdq VARCHAR(64), \n'
        '\tpdq_quality INTEGER, \n'
        '\tpdq_preprocess VARCHAR(80), \n'
        '\tvpdq JSON, \n'
        '\tvpdq_preprocess VARCHAR(80), \n'
        '\tvideo JSON, \n'
        '\tfinding VARCHAR(20) NOT NULL, \n'
        '\terror TEXT, \n'
        '\tnotes JSON NOT NULL, \n'
        '\tflags JSON NOT NULL, \n'
        '\telapsed FLOAT, \n'
        '\tstamp TEXT, \n'
        '\tanalysed_at DATETIME, \n'
        '\tsha512 VARCHAR(128), \n'
        '\tPRIMARY KEY (id), \n'
        '\tFOREIGN KEY(seizure_id) REFERENCES seizures (id), \n'
        '\tUNIQUE (path)\n'
        ')'
    ),
    'CREATE INDEX ix_items_finding ON items (finding)',
    'CREATE INDEX ix_items_sha1 ON items (sha1)',
    'CREATE INDEX ix_items_md5 ON items (md5)',
    'CREATE INDEX ix_items_sha512 ON items (sha512)',
    'CREATE INDEX ix_items_seizure_id ON items (seizure_id)',
    'CREATE INDEX ix_items_sha256 ON items (sha256)',
    'CREATE INDEX ix_items_finding_path ON items (finding, path)',
    (
        'CREATE TABLE matched_sets (\n'
        '\thashset_id INTEGER NOT NULL, \n'
        '\tversion INTEGER NOT NULL, \n'
        '\timported_at DATETIME NOT NULL, \n'
        '\tmax_entry_id INTEGER NOT NULL, \n'
        '\tmatched_at DATETIME NOT NULL, \n'
        '\tPRIMARY KEY (hashset_id), \n'
        '\tFOREIGN KEY(hashset_id) REFERENCES hashsets (id) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE TABLE matches (\n'
        '\tid INTEGER NOT NULL, \n'
        '\titem_id INTEGER NOT NULL, \n'
        '\thashset_id INTEGER NOT NULL, \n'
        '\tentry_id INTEGER NOT NULL, \n'
        '\tsignal_type VARCHAR(20) NOT NULL, \n'
        '\tdistance INTEGER NOT NULL, \n'
        '\thashset VARCHAR(200) NOT NULL, \n'
        '\thashset_version INTEGER, \n'
        '\tknown_good BOOLEAN NOT NULL, \n'
        '\tcategory VARCHAR(60), \n'
        '\tscheme VARCHAR(40), \n'
        '\tseries TEXT, \n'
        '\tmatched_signal TEXT, \n'
        '\tquery_share FLOAT, \n'
        '\tknown_share FLOAT, \n'
        '\tPRIMARY KEY (id), \n'
        '\tFOREIGN KEY(item_id) REFERENCES items (id) ON DELETE CASCADE, \n'
        '\tFOREIGN KEY(hashset_id) REFERENCES hashsets (id)\n'
        ')'
    ),
    'CREATE INDEX ix_matches_entry ON matches (hashset_id, entry_id)',
    'CREATE INDEX ix_matches_item_id ON matches (item_id)',
    (
        'CREATE TABLE item_queries (\n'
        '\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n'
        '\titem_id INTEGER NOT NULL, \n'
        '\tcodes BLOB NOT NULL, \n'
        '\tsource VARCHAR(10) NOT NULL, \n'
        '\tFOREIGN KEY(item_id) REFERENCES items (id) ON DELETE CASCADE\n'
        ')'
    ),
    'CREATE INDEX ix_item_queries_item_id ON item_queries (item_id)',
    (
        'CREATE TABLE finding_changes (\n'
        '\tid INTEGER NOT NULL, \n'
        '\titem_id INTEGER NOT NULL, \n'
        '\tchanged_at DATETIME NOT NULL, \n'
        '\tcause VARCHAR(20) NOT NULL, \n'
        '\told_finding VARCHAR(20) NOT NULL, \n'
        '\tnew_finding VARCHAR(20) NOT NULL, \n'
        '\treason TEXT NOT NULL, \n'
        '\tearlier JSON, \n'
        '\tPRIMARY KEY (id), \n'
        '\tFOREIGN KEY(item_id) REFERENCES items (id) ON DELETE CASCADE\n'
        ')'
    ),
    'CREATE INDEX ix_finding_changes_item_id ON finding_changes (item_id)',
)
