//! The environment variables of an execution environment, as Lambda sets them. Pure.

use std::collections::BTreeMap;
use std::path::Path;

use model::FunctionConfig;
use sandbox::Mounts;

/// Everything besides the function's configuration that shows up in its environment.
#[derive(Debug, Clone)]
pub(crate) struct EnvContext<'a> {
    pub region: &'a str,
    /// `AWS_LAMBDA_RUNTIME_API` (`host:port`).
    pub runtime_api: &'a str,
    /// `AWS_ENDPOINT_URL`: flint as reachable from inside the environment.
    pub endpoint_url: &'a str,
    pub log_stream: &'a str,
    pub initialization_type: &'a str,
    /// Paths as the function sees them.
    pub inside: &'a Mounts,
    /// Variables the managed runtime needs (`PYTHONPATH`, `NODE_PATH`, ...).
    pub runtime_env: &'a [(String, String)],
}

/// Builds the complete environment. Later layers win: Lambda's defaults, then the runtime's
/// variables, then the user's, then the reserved ones (users cannot set those; the control
/// plane refuses them).
pub(crate) fn environment(config: &FunctionConfig, cx: &EnvContext<'_>) -> Vec<(String, String)> {
    let task = display(&cx.inside.task_root);
    let opt = display(&cx.inside.opt);
    let runtime_dir = display(&cx.inside.runtime_dir);
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        vars.insert(key.to_string(), value);
    };

    set("LANG", "en_US.UTF-8".into());
    set("PATH", format!("/usr/local/bin:/usr/bin/:/bin:{opt}/bin"));
    set(
        "LD_LIBRARY_PATH",
        format!("/lib64:/usr/lib64:{runtime_dir}:{runtime_dir}/lib:{task}:{task}/lib:{opt}/lib"),
    );
    set("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".into());
    for (key, value) in cx.runtime_env {
        set(key, value.clone());
    }
    for (key, value) in &config.environment {
        set(key, value.clone());
    }

    set("_HANDLER", config.handler.clone());
    set("AWS_REGION", cx.region.to_string());
    set("AWS_DEFAULT_REGION", cx.region.to_string());
    if let Some(execution_env) = config.runtime.execution_env() {
        set("AWS_EXECUTION_ENV", execution_env);
    }
    set("AWS_LAMBDA_FUNCTION_NAME", config.name.clone());
    set(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        config.memory_mb.to_string(),
    );
    set("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone());
    set(
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        cx.initialization_type.to_string(),
    );
    set("AWS_LAMBDA_LOG_GROUP_NAME", log_group(&config.name));
    set("AWS_LAMBDA_LOG_STREAM_NAME", cx.log_stream.to_string());
    set("AWS_LAMBDA_RUNTIME_API", cx.runtime_api.to_string());
    set("LAMBDA_TASK_ROOT", task);
    set("LAMBDA_RUNTIME_DIR", runtime_dir);
    set("TZ", ":UTC".into());
    // Credentials of the execution role. flint accepts any key, so these only need to exist for
    // SDKs inside the function to sign their calls to AWS_ENDPOINT_URL.
    set("AWS_ACCESS_KEY_ID", "FLINTLOCALACCESSKEY".into());
    set("AWS_SECRET_ACCESS_KEY", "flint-local-secret".into());
    set("AWS_SESSION_TOKEN", "flint-local-session".into());
    set("AWS_ENDPOINT_URL", cx.endpoint_url.to_string());
    vars.into_iter().collect()
}

/// Variables that belong to the runtime and that Lambda keeps from extensions.
const RUNTIME_ONLY: &[&str] = &[
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_XRAY_CONTEXT_MISSING",
    "AWS_XRAY_DAEMON_ADDRESS",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
    "_AWS_XRAY_DAEMON_ADDRESS",
    "_AWS_XRAY_DAEMON_PORT",
    "_HANDLER",
];

/// The environment of an external extension: the function's, without the runtime's own.
pub(crate) fn for_extensions(vars: &[(String, String)]) -> Vec<(String, String)> {
    vars.iter()
        .filter(|(key, _)| !RUNTIME_ONLY.contains(&key.as_str()))
        .cloned()
        .collect()
}

/// The log group of a function.
pub(crate) fn log_group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(runtime: &str, env: &[(&str, &str)]) -> FunctionConfig {
        FunctionConfig {
            runtime: runtime.parse().unwrap(),
            handler: "index.handler".into(),
            memory_mb: 256,
            environment: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            revision_id: "r".into(),
            ..FunctionConfig::example("hello")
        }
    }

    fn build(
        config: &FunctionConfig,
        runtime_env: &[(String, String)],
    ) -> BTreeMap<String, String> {
        let inside = Mounts {
            task_root: "/var/task".into(),
            opt: "/opt".into(),
            runtime_dir: "/var/runtime".into(),
        };
        let cx = EnvContext {
            region: "eu-west-1",
            runtime_api: "127.0.0.1:9001",
            endpoint_url: "http://127.0.0.1:9000",
            log_stream: "2026/01/15/[$LATEST]abc",
            initialization_type: "on-demand",
            inside: &inside,
            runtime_env,
        };
        environment(config, &cx).into_iter().collect()
    }

    #[test]
    fn sets_every_reserved_variable() {
        let vars = build(&config("provided.al2023", &[("GREETING", "hi")]), &[]);
        let expect = [
            ("_HANDLER", "index.handler"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "hello"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/hello"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/15/[$LATEST]abc"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
            ("TZ", ":UTC"),
            ("LANG", "en_US.UTF-8"),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("GREETING", "hi"),
        ];
        for (key, value) in expect {
            assert_eq!(vars.get(key).map(String::as_str), Some(value), "{key}");
        }
        assert!(vars["LD_LIBRARY_PATH"].contains("/var/task/lib"));
        for key in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            assert!(!vars[key].is_empty(), "{key}");
        }
        assert!(
            !vars.contains_key("AWS_EXECUTION_ENV"),
            "not set for OS-only runtimes"
        );
    }

    #[test]
    fn extensions_do_not_see_the_runtimes_variables() {
        let vars: Vec<(String, String)> = build(&config("python3.12", &[("MINE", "x")]), &[])
            .into_iter()
            .collect();
        let for_extensions: BTreeMap<_, _> = for_extensions(&vars).into_iter().collect();
        for key in [
            "_HANDLER",
            "LAMBDA_TASK_ROOT",
            "AWS_EXECUTION_ENV",
            "AWS_LAMBDA_LOG_STREAM_NAME",
        ] {
            assert!(!for_extensions.contains_key(key), "{key}");
        }
        assert_eq!(for_extensions["MINE"], "x");
        assert_eq!(for_extensions["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:9001");
    }

    #[test]
    fn managed_runtimes_name_themselves_and_users_may_override_defaults() {
        let runtime_env = vec![("PYTHONPATH".to_string(), "/var/runtime".to_string())];
        let vars = build(&config("python3.12", &[("LANG", "C.UTF-8")]), &runtime_env);
        assert_eq!(vars["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.12");
        assert_eq!(vars["PYTHONPATH"], "/var/runtime");
        assert_eq!(vars["LANG"], "C.UTF-8");
    }
}
