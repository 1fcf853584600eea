//! Lambda's quotas, as data. Every number here is quoted from the Lambda quotas page and the
//! service model; tests and docs refer to these constants rather than repeating the numbers.

/// Largest synchronous Invoke request payload (6 MB).
pub const SYNC_PAYLOAD_MAX: usize = 6 * 1024 * 1024;
/// Largest asynchronous Invoke request payload (1 MB).
pub const ASYNC_PAYLOAD_MAX: usize = 1024 * 1024;
/// Largest buffered response a runtime may post: 6 MiB plus 100 bytes, as Lambda's Runtime API.
pub const RESPONSE_PAYLOAD_MAX: usize = 6 * 1024 * 1024 + 100;
/// Largest zip uploaded directly in a request (`ZipFile`), 50 MB.
pub const ZIP_FILE_MAX: usize = 50 * 1024 * 1024;
/// Largest unzipped size of code plus layers, 250 MB.
pub const UNZIPPED_MAX: u64 = 262_144_000;
/// Most layers a function may use.
pub const LAYERS_PER_FUNCTION_MAX: usize = 5;
/// Most entries a deployment package may hold; a guard against zip bombs made of tiny files.
pub const ZIP_ENTRIES_MAX: usize = 100_000;
/// Total size of the environment variables, measured as their JSON text (4 KB).
pub const ENVIRONMENT_MAX_BYTES: usize = 4 * 1024;
/// Memory range in MB.
pub const MEMORY_MIN_MB: u32 = 128;
pub const MEMORY_MAX_MB: u32 = 10_240;
pub const MEMORY_DEFAULT_MB: u32 = 128;
/// Timeout range in seconds.
pub const TIMEOUT_MIN_S: u32 = 1;
pub const TIMEOUT_MAX_S: u32 = 900;
pub const TIMEOUT_DEFAULT_S: u32 = 3;
/// `/tmp` size range in MB.
pub const EPHEMERAL_MIN_MB: u32 = 512;
pub const EPHEMERAL_MAX_MB: u32 = 10_240;
pub const EPHEMERAL_DEFAULT_MB: u32 = 512;
/// How long a runtime may take to initialise before its first `/next` (on-demand).
pub const INIT_TIMEOUT_MS: u64 = 10_000;
/// How much of an invocation's log comes back with `X-Amz-Log-Type: Tail`.
pub const LOG_TAIL_BYTES: usize = 4 * 1024;
/// Longest description.
pub const DESCRIPTION_MAX: usize = 256;
/// Longest handler.
pub const HANDLER_MAX: usize = 128;
/// Account-wide concurrency by default.
pub const ACCOUNT_CONCURRENCY_DEFAULT: u32 = 1_000;
/// Account-wide code storage (75 GB).
pub const TOTAL_CODE_SIZE_MAX: u64 = 80_530_636_800;
/// Most items a list operation returns in one page.
pub const LIST_PAGE_MAX: usize = 50;
/// Tag limits.
pub const TAG_KEY_MAX: usize = 128;
pub const TAG_VALUE_MAX: usize = 256;
pub const TAGS_PER_RESOURCE_MAX: usize = 50;
