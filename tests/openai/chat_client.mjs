// The official OpenAI Node client against `loomflow serve` (tests/serve_cli_test.cpp runs it).
//
//   LOOMFLOW_BASE_URL=http://127.0.0.1:PORT/v1 LOOMFLOW_API_KEY=KEY node chat_client.mjs MODE [MODEL] [MESSAGE]
//
// MODE: models   list the models
//       chat     one non-streamed chat completion of MESSAGE
//       stream   the same, streamed (stream_options.include_usage), every chunk collected
//       history  a non-streamed completion after earlier turns: system + user + assistant + MESSAGE
//                (the output's "sent" lists the messages sent)
// Prints ONE JSON object on stdout: what the client got, or {"error": {status, name, message}} when
// it threw (the exit status is 0 either way; anything else means the script itself failed).
import OpenAI from "openai";

const [mode, model, message = "hello"] = process.argv.slice(2);
if (!["models", "chat", "stream", "history"].includes(mode)) {
  process.stderr.write(`chat_client.mjs: unknown mode '${mode}' (models, chat, stream, history)\n`);
  process.exit(2);
}

const client = new OpenAI({
  baseURL: process.env.LOOMFLOW_BASE_URL,
  apiKey: process.env.LOOMFLOW_API_KEY ?? "",
  maxRetries: 0,
  timeout: 30_000,
});

function completion(response) {
  const choice = response.choices?.[0];
  return {
    id: response.id,
    object: response.object,
    model: response.model,
    content: choice?.message?.content ?? null,
    role: choice?.message?.role ?? null,
    finish_reason: choice?.finish_reason ?? null,
    usage: response.usage ?? null,
  };
}

async function run() {
  switch (mode) {
    case "models": {
      const ids = [];
      for await (const m of client.models.list()) ids.push(m.id);
      return { model_ids: ids };
    }
    case "chat": {
      const response = await client.chat.completions.create({
        model,
        messages: [{ role: "user", content: message }],
      });
      return completion(response);
    }
    case "history": {
      const messages = [
        { role: "system", content: "You are a careful assistant who keeps the whole conversation in mind." },
        { role: "user", content: "My name is Ada and my favourite number is forty-two." },
        { role: "assistant", content: "Nice to meet you, Ada. I will remember forty-two." },
        { role: "user", content: message },
      ];
      const response = await client.chat.completions.create({ model, messages });
      return { ...completion(response), sent: messages };
    }
    case "stream": {
      const stream = await client.chat.completions.create({
        model,
        messages: [{ role: "user", content: message }],
        stream: true,
        stream_options: { include_usage: true },
      });
      const ids = new Set();
      let content = "";
      let chunks = 0;
      let finish_reason = null;
      let usage = null;
      let usage_chunks = 0;
      let role = null;
      for await (const chunk of stream) {
        chunks += 1;
        ids.add(chunk.id);
        for (const choice of chunk.choices ?? []) {
          if (choice.delta?.role) role = choice.delta.role;
          if (typeof choice.delta?.content === "string") content += choice.delta.content;
          if (choice.finish_reason) finish_reason = choice.finish_reason;
        }
        if (chunk.usage) {
          usage = chunk.usage;
          usage_chunks += 1;
        }
      }
      return { ids: [...ids], role, content, chunks, finish_reason, usage, usage_chunks };
    }
  }
}

try {
  process.stdout.write(JSON.stringify(await run()) + "\n");
} catch (e) {
  process.stdout.write(
    JSON.stringify({ error: { status: e?.status ?? null, name: e?.constructor?.name ?? null, message: String(e?.message ?? e) } }) +
      "\n",
  );
}
