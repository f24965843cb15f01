/** Escaping text for XML and HTML pages the project writes (eval reports, the shadow report). Pure. */

const xmlEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text safe inside XML and HTML text and attributes; characters XML 1.0 forbids are dropped. */
export function escapeXml(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '').replace(/[&<>"']/g, (c) => xmlEscapes[c]!);
}

/**
 * JSON safe inside an HTML `<script type="application/json">` element: `<`, `>`, `&` and the line
 * separators U+2028/2029 are written as \u escapes, so no text of the value can end the element.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
