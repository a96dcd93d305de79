/** Newline-delimited JSON over a byte stream: one value a line, as `POST /v1/jobs` answers. */
export async function* readNdjson(
  stream: ReadableStream<Uint8Array>,
  maxLineBytes = 16 * 1024 * 1024,
): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  let buffered = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') yield JSON.parse(line);
        newline = buffered.indexOf('\n');
      }
      if (buffered.length > maxLineBytes) throw new Error(`NDJSON line longer than ${maxLineBytes} bytes`);
    }
    const rest = (buffered + decoder.decode()).trim();
    if (rest !== '') yield JSON.parse(rest);
  } finally {
    reader.releaseLock();
  }
}
