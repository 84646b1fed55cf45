//! OpenAI request and response shapes (`/v1/completions`, `/v1/chat/completions`),
//! as the OpenAI API reference and llama-server define them; unknown fields are
//! ignored, as both do.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::engine::FinishReason;
use crate::processor::GenerateParams;
use crate::sampler::SamplingParams;

/// `prompt` or `stop`: one string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single string.
    One(String),
    /// Several strings.
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A completion prompt: text, or token ids (OpenAI allows both).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// Text (tokenized with BOS and special tokens).
    Text(String),
    /// Token ids, used as given.
    Tokens(Vec<u32>),
    /// A one-element array of text (OpenAI's batch form; only one is served).
    TextList(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` before `[DONE]`.
    #[serde(default)]
    pub include_usage: bool,
}

/// Fields shared by both endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Common {
    // `model` is not read: one model is served, whatever the name asked for.
    /// Tokens to generate at most.
    pub max_tokens: Option<u64>,
    /// Newer name of `max_tokens` (chat).
    pub max_completion_tokens: Option<u64>,
    /// Sampling temperature in `[0, 2]`; 0 is greedy.
    pub temperature: Option<f32>,
    /// Nucleus sampling mass in `(0, 1]`.
    pub top_p: Option<f32>,
    /// llama-server extension: top-k (0 = off).
    pub top_k: Option<usize>,
    /// llama-server extension: min-p.
    pub min_p: Option<f32>,
    /// llama-server extension: repetition penalty.
    pub repeat_penalty: Option<f32>,
    /// Seed for reproducible sampling.
    pub seed: Option<u64>,
    /// Stop strings (at most 4, as OpenAI).
    pub stop: Option<OneOrMany>,
    /// Stream with server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Choices wanted; only 1 is served.
    pub n: Option<u32>,
    /// llama-server extension: keep generating past end-of-generation tokens.
    #[serde(default)]
    pub ignore_eos: bool,
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// The prompt.
    pub prompt: Prompt,
    /// The rest.
    #[serde(flatten)]
    pub common: Common,
}

/// One chat message; `content` is a string or a list of `{"type":"text"}` parts.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`.
    pub role: String,
    /// The text.
    #[serde(deserialize_with = "content_text")]
    pub content: String,
}

fn content_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Content {
        Text(String),
        Parts(Vec<Part>),
        Null(()),
    }
    #[derive(Deserialize)]
    struct Part {
        #[serde(rename = "type")]
        kind: String,
        text: Option<String>,
    }
    match Content::deserialize(d)? {
        Content::Text(s) => Ok(s),
        Content::Null(()) => Ok(String::new()),
        Content::Parts(parts) => {
            let mut out = String::new();
            for p in parts {
                if p.kind != "text" {
                    return Err(serde::de::Error::custom(format!(
                        "content part type {:?} is not supported",
                        p.kind
                    )));
                }
                out.push_str(&p.text.unwrap_or_default());
            }
            Ok(out)
        }
    }
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// The rest.
    #[serde(flatten)]
    pub common: Common,
}

/// A request field that is out of range: (field, why).
pub type FieldError = (&'static str, String);

impl Common {
    /// The generation settings, or the first bad field.
    pub fn params(&self, default_max_tokens: usize) -> Result<GenerateParams, FieldError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(("n", "only n = 1 is supported".into()));
        }
        let max_tokens = self.max_completion_tokens.or(self.max_tokens).map(|m| m as usize);
        if max_tokens == Some(0) {
            return Err(("max_tokens", "must be at least 1".into()));
        }
        let mut sampling = SamplingParams::default();
        if let Some(t) = self.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err(("temperature", format!("{t} is outside [0, 2]")));
            }
            sampling.temperature = t;
        }
        if let Some(p) = self.top_p {
            sampling.top_p = p;
        }
        if let Some(k) = self.top_k {
            sampling.top_k = k;
        }
        if let Some(m) = self.min_p {
            sampling.min_p = m;
        }
        if let Some(r) = self.repeat_penalty {
            sampling.repeat_penalty = r;
        }
        sampling.seed = self.seed;
        sampling.validate().map_err(|e| ("sampling", e.to_string()))?;
        let stop = self.stop.clone().map(OneOrMany::into_vec).unwrap_or_default();
        if stop.len() > 4 {
            return Err(("stop", "at most 4 stop sequences".into()));
        }
        Ok(GenerateParams {
            max_tokens: max_tokens.or(Some(default_max_tokens)),
            sampling,
            stop,
            timeout: None,
            ignore_eos: self.ignore_eos,
        })
    }

    /// Whether the stream ends with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options.as_ref().is_some_and(|o| o.include_usage)
    }
}

/// Which endpoint a response is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `text_completion`.
    Completion,
    /// `chat.completion`.
    Chat,
}

/// Names a response: id, creation time, model.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `cmpl-…` or `chatcmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// Model name.
    pub model: String,
    /// Endpoint.
    pub kind: Kind,
}

/// Token counts.
pub fn usage(prompt_tokens: usize, completion_tokens: usize) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

impl Envelope {
    /// The whole (non-streamed) response.
    pub fn response(&self, text: &str, finish: FinishReason, usage: Value) -> Value {
        let choice = match self.kind {
            Kind::Completion => {
                json!({"index": 0, "text": text, "logprobs": null, "finish_reason": finish.as_str()})
            }
            Kind::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": null,
                "finish_reason": finish.as_str(),
            }),
        };
        json!({
            "id": self.id,
            "object": match self.kind { Kind::Completion => "text_completion", Kind::Chat => "chat.completion" },
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": usage,
        })
    }

    /// One streamed chunk: `text` (and, for chat, the role on the first chunk),
    /// `finish_reason` on the last.
    pub fn chunk(&self, text: Option<&str>, first: bool, finish: Option<FinishReason>) -> Value {
        let finish = finish.map(FinishReason::as_str);
        let choice = match self.kind {
            Kind::Completion => {
                json!({"index": 0, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish})
            }
            Kind::Chat => {
                let mut delta = serde_json::Map::new();
                if first {
                    delta.insert("role".into(), "assistant".into());
                }
                if let Some(t) = text {
                    delta.insert("content".into(), t.into());
                }
                json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish})
            }
        };
        json!({
            "id": self.id,
            "object": match self.kind { Kind::Completion => "text_completion", Kind::Chat => "chat.completion.chunk" },
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        })
    }

    /// The usage chunk (`stream_options.include_usage`): no choices.
    pub fn usage_chunk(&self, usage: Value) -> Value {
        json!({
            "id": self.id,
            "object": match self.kind { Kind::Completion => "text_completion", Kind::Chat => "chat.completion.chunk" },
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        })
    }
}

/// OpenAI's error body.
pub fn error_body(message: &str, kind: &str, param: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": null}})
}
