//! What OpenTSDB answers to `POST /api/put`: `204` with no body when every
//! point was stored; with `?summary` or `?details`, a body
//! `{"success": n, "failed": n}` (`200`, or `400` when some failed) and, for
//! `?details`, an `errors` array of `{"datapoint": {...}, "error": "..."}`.
//! Any other answer is an error body `{"error": {"code", "message", ...}}`.

use serde_json::Value as Json;

/// The outcome of one `/api/put` request.
#[derive(Debug, Clone, PartialEq)]
pub struct PutAnswer {
    /// Data points stored.
    pub success: u64,
    /// Data points refused.
    pub failed: u64,
    /// Why each refused point was refused (`?details` only).
    pub errors: Vec<PutError>,
}

/// One refused data point, as OpenTSDB echoes it, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct PutError {
    pub datapoint: Json,
    pub error: String,
}

/// Reads the answer to a request that sent `sent` points: `204` counts them
/// all as stored; a summary or details body is read as it is. Anything else
/// is an error naming the status and what the server said.
pub fn answer(status: u16, body: &str, sent: usize) -> Result<PutAnswer, String> {
    if status == 204 {
        return Ok(PutAnswer { success: sent as u64, failed: 0, errors: Vec::new() });
    }
    let json: Option<Json> = serde_json::from_str(body).ok();
    let count = |k: &str| json.as_ref().and_then(|j| j.get(k)).and_then(Json::as_u64);
    if let (true, Some(success), Some(failed)) = (matches!(status, 200 | 400), count("success"), count("failed")) {
        let errors = match json.as_ref().and_then(|j| j.get("errors")) {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(items)) => items.iter().map(put_error).collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(format!("OpenTSDB answered {status} with an \"errors\" that is not an array: {other}"))
            }
        };
        return Ok(PutAnswer { success, failed, errors });
    }
    let error = json.as_ref().and_then(|j| j.get("error"));
    let message = error.and_then(|e| e.get("message")).and_then(Json::as_str);
    let details = error.and_then(|e| e.get("details")).and_then(Json::as_str).filter(|d| !d.is_empty());
    Err(match (message, details) {
        (Some(m), Some(d)) => format!("OpenTSDB answered {status}: {m} ({d})"),
        (Some(m), None) => format!("OpenTSDB answered {status}: {m}"),
        _ => format!("OpenTSDB answered {status}: {}", body.chars().take(300).collect::<String>()),
    })
}

fn put_error(item: &Json) -> Result<PutError, String> {
    let error = item.get("error").and_then(Json::as_str);
    let error = error.ok_or_else(|| format!("OpenTSDB listed an error without a message: {item}"))?;
    Ok(PutError { datapoint: item.get("datapoint").cloned().unwrap_or(Json::Null), error: error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// No content means every point sent was stored.
    #[test]
    fn no_content_is_all_stored() {
        assert_eq!(answer(204, "", 3), Ok(PutAnswer { success: 3, failed: 0, errors: vec![] }));
    }

    /// OpenTSDB's documented summary answer.
    #[test]
    fn summary() {
        let body = "{\n    \"failed\": 1,\n    \"success\": 0\n}";
        assert_eq!(answer(200, body, 1), Ok(PutAnswer { success: 0, failed: 1, errors: vec![] }));
        assert_eq!(answer(400, body, 1).unwrap().failed, 1);
    }

    /// OpenTSDB's documented details answer, with the refused point and why.
    #[test]
    fn details() {
        let body = r#"{
    "errors": [
        {
            "datapoint": {
                "metric": "sys.cpu.nice",
                "timestamp": 1365465600,
                "value": "NaN",
                "tags": {
                    "host": "web01"
                }
            },
            "error": "Unable to parse value to a number"
        }
    ],
    "failed": 1,
    "success": 0
}"#;
        let a = answer(400, body, 1).unwrap();
        assert_eq!((a.success, a.failed), (0, 1));
        assert_eq!(
            a.errors,
            vec![PutError {
                datapoint: json!({"metric": "sys.cpu.nice", "timestamp": 1365465600, "value": "NaN", "tags": {"host": "web01"}}),
                error: "Unable to parse value to a number".into(),
            }]
        );
    }

    /// An error body names the status, the message and the details; any
    /// other body is quoted.
    #[test]
    fn errors() {
        let body = r#"{"error": {"code": 400, "message": "Unable to parse the given JSON", "details": "Unexpected end-of-input"}}"#;
        assert_eq!(
            answer(400, body, 2).unwrap_err(),
            "OpenTSDB answered 400: Unable to parse the given JSON (Unexpected end-of-input)"
        );
        assert_eq!(answer(503, "busy", 2).unwrap_err(), "OpenTSDB answered 503: busy");
    }
}
