-- Published versions are rows of `versions` (0001), like `$LATEST`. This adds what they need
-- besides: a counter per function, so version numbers are never reused; aliases; and the
-- concurrency settings of functions, versions and aliases. Every table goes with its function.

-- `last_version` is the highest number the function ever published (0 before the first);
-- `published_revision` is the `$LATEST` revision it was published from, so publishing an
-- unchanged `$LATEST` again returns that version.
CREATE TABLE version_counters (
    function TEXT NOT NULL PRIMARY KEY REFERENCES functions (name) ON DELETE CASCADE,
    last_version INTEGER NOT NULL CHECK (last_version >= 0),
    published_revision TEXT NOT NULL
);

-- `function_version` and `additional_version` repeat fields of `alias_json`, so the aliases
-- that point at a version are found without JSON parsing.
CREATE TABLE aliases (
    function TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    function_version TEXT NOT NULL,
    additional_version TEXT,
    alias_json TEXT NOT NULL,
    PRIMARY KEY (function, name)
);

CREATE TABLE reserved_concurrency (
    function TEXT NOT NULL PRIMARY KEY REFERENCES functions (name) ON DELETE CASCADE,
    reserved INTEGER NOT NULL CHECK (reserved >= 0)
);

-- `qualifier` is a version number or an alias name. `last_modified` is RFC 3339.
CREATE TABLE provisioned_concurrency (
    function TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    qualifier TEXT NOT NULL,
    requested INTEGER NOT NULL CHECK (requested >= 1),
    last_modified TEXT NOT NULL,
    PRIMARY KEY (function, qualifier)
);
