//! Chat templates: the GGUF's `tokenizer.chat_template` (Hugging Face Jinja),
//! rendered with `minijinja` (plus Python-style string methods), or a Llama 3
//! template when the file has none.

use minijinja::{Environment, Error, ErrorKind};

use super::openai::Message;

/// The Llama 3 instruct format (BitNet b1.58 2B4T uses it).
pub const LLAMA3_TEMPLATE: &str = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";

/// A compiled chat template.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

impl ChatTemplate {
    /// Compiles `source` (or the Llama 3 default); `bos` / `eos` are the token texts
    /// templates see as `bos_token` / `eos_token`.
    ///
    /// Errors: a template that does not parse, with minijinja's message.
    pub fn new(source: Option<&str>, bos: &str, eos: &str) -> Result<ChatTemplate, Error> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_template_owned("chat", source.unwrap_or(LLAMA3_TEMPLATE).to_owned())?;
        Ok(ChatTemplate { env, bos: bos.into(), eos: eos.into() })
    }

    /// The prompt for `messages`, ending with the assistant's turn header.
    ///
    /// Errors: the template raised (`raise_exception`, e.g. roles out of order) or
    /// failed; the message says why.
    pub fn render(&self, messages: &[Message]) -> Result<String, Error> {
        let t = self.env.get_template("chat")?;
        t.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => self.bos,
            eos_token => self.eos,
        })
    }
}
