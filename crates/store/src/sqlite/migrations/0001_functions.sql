-- Functions and their versions. `$LATEST` is a row of `versions` like every published version
-- will be, so publishing adds rows instead of reshaping tables. `code_sha256` and `code_size`
-- repeat fields of `config_json` so usage and code garbage collection need no JSON parsing.

CREATE TABLE functions (
    name TEXT NOT NULL PRIMARY KEY,
    meta_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE versions (
    function TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    version TEXT NOT NULL,
    config_json TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size BIGINT NOT NULL CHECK (code_size >= 0),
    PRIMARY KEY (function, version)
);
