-- Layers and their versions.
--
-- `layers.last_version` is the highest number the layer ever published, so a number is never
-- given out twice, not even after every version was deleted; the row stays when the last
-- version goes. A deleted version's row is removed: the functions that use it keep its digest
-- in their configurations, which is what keeps its package from garbage collection.
--
-- `compatible_runtimes` and `compatible_architectures` are JSON arrays of strings; `created_at`
-- is RFC 3339. `policy_json` is the JSON array of the version's policy statements and
-- `policy_revision` its revision id, both NULL while the version has no policy.

CREATE TABLE layers (
    name TEXT NOT NULL PRIMARY KEY,
    last_version INTEGER NOT NULL CHECK (last_version >= 1)
);

CREATE TABLE layer_versions (
    name TEXT NOT NULL REFERENCES layers (name),
    version INTEGER NOT NULL CHECK (version >= 1),
    description TEXT NOT NULL,
    compatible_runtimes TEXT NOT NULL,
    compatible_architectures TEXT NOT NULL,
    license_info TEXT,
    code_sha256 TEXT NOT NULL,
    code_size BIGINT NOT NULL CHECK (code_size >= 0),
    unzipped_size BIGINT NOT NULL CHECK (unzipped_size >= 0),
    created_at TEXT NOT NULL,
    policy_json TEXT,
    policy_revision TEXT,
    PRIMARY KEY (name, version)
);
