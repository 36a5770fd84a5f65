// The Velocity 1.7 oracle: renders templates with Apache Velocity 1.7 itself (Debian's `velocity`).
//
// Protocol (one JVM per test session, many templates): each request is ONE line of JSON on stdin,
//   {"template": "...", "variables": {...}, "strict": true}
// and each answer is ONE line of JSON on stdout,
//   {"output": "..."}  or  {"error": "<first line of the message>", "type": "<exception class>"}.
// Answers are pure ASCII (everything else as a JSON u-escape), so the pipe's encoding cannot matter.
// Every template renders with a FRESH engine: 1.7 keeps state between evaluations of one engine
// (inline macros, the introspection cache), and one case must never colour the next.
//
// JSON is read by the small parser below, not by a library: it is ~100 lines, it needs no package
// beyond `velocity` itself, and it builds exactly the Java types a Velocity context holds in jtel
// (objects -> LinkedHashMap, arrays -> ArrayList, integers -> Integer or Long, decimals -> Double).

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.velocity.VelocityContext;
import org.apache.velocity.app.VelocityEngine;

public final class VelocityOracle {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.US_ASCII));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            out.println(answer(line));
            out.flush();
        }
    }

    static String answer(String line) {
        try {
            Object request = new Json(line).document();
            if (!(request instanceof Map)) {
                return error("BadRequest", "a request is a JSON object");
            }
            Map<?, ?> fields = (Map<?, ?>) request;
            Object template = fields.get("template");
            if (!(template instanceof String)) {
                return error("BadRequest", "the request has no \"template\" string");
            }
            Object variables = fields.containsKey("variables") ? fields.get("variables") : new LinkedHashMap<>();
            if (!(variables instanceof Map)) {
                return error("BadRequest", "\"variables\" is a JSON object");
            }
            boolean strict = !Boolean.FALSE.equals(fields.get("strict"));
            return render((String) template, (Map<?, ?>) variables, strict);
        } catch (Throwable failure) {
            return error(failure.getClass().getSimpleName(), String.valueOf(failure.getMessage()));
        }
    }

    static String render(String template, Map<?, ?> variables, boolean strict) {
        try {
            VelocityEngine engine = new VelocityEngine();
            engine.setProperty("runtime.log.logsystem.class", "org.apache.velocity.runtime.log.NullLogChute");
            engine.setProperty("runtime.references.strict", String.valueOf(strict));
            engine.init();
            VelocityContext context = new VelocityContext();
            for (Map.Entry<?, ?> entry : variables.entrySet()) {
                context.put((String) entry.getKey(), entry.getValue());
            }
            StringWriter output = new StringWriter();
            engine.evaluate(context, output, "template", template);
            return "{\"output\":" + quote(output.toString()) + "}";
        } catch (Throwable failure) {
            return error(failure.getClass().getSimpleName(), String.valueOf(failure.getMessage()));
        }
    }

    static String error(String type, String message) {
        String first = message.split("\n", 2)[0].trim();
        return "{\"error\":" + quote(first) + ",\"type\":" + quote(type) + "}";
    }

    static String quote(String text) {
        StringBuilder quoted = new StringBuilder(text.length() + 2).append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"' || c == '\\') {
                quoted.append('\\').append(c);
            } else if (c >= 0x20 && c < 0x7f) {
                quoted.append(c);
            } else {
                quoted.append(String.format("\\u%04x", (int) c));
            }
        }
        return quoted.append('"').toString();
    }

    /** A strict little JSON reader (RFC 8259), enough for requests written by Python's json module. */
    static final class Json {
        private final String text;
        private int at;

        Json(String text) {
            this.text = text;
        }

        Object document() {
            Object value = value();
            space();
            if (at != text.length()) {
                throw fail("trailing text");
            }
            return value;
        }

        private Object value() {
            space();
            if (at >= text.length()) {
                throw fail("a value");
            }
            char c = text.charAt(at);
            switch (c) {
                case '{': return object();
                case '[': return array();
                case '"': return string();
                case 't': return word("true", Boolean.TRUE);
                case 'f': return word("false", Boolean.FALSE);
                case 'n': return word("null", null);
                default: return number();
            }
        }

        private Map<String, Object> object() {
            Map<String, Object> map = new LinkedHashMap<>();
            at++;
            space();
            if (peek() == '}') {
                at++;
                return map;
            }
            while (true) {
                space();
                if (peek() != '"') {
                    throw fail("a key");
                }
                String key = string();
                space();
                expect(':');
                map.put(key, value());
                space();
                if (peek() == ',') {
                    at++;
                } else {
                    expect('}');
                    return map;
                }
            }
        }

        private List<Object> array() {
            List<Object> list = new ArrayList<>();
            at++;
            space();
            if (peek() == ']') {
                at++;
                return list;
            }
            while (true) {
                list.add(value());
                space();
                if (peek() == ',') {
                    at++;
                } else {
                    expect(']');
                    return list;
                }
            }
        }

        private String string() {
            at++;
            StringBuilder built = new StringBuilder();
            while (true) {
                if (at >= text.length()) {
                    throw fail("the end of a string");
                }
                char c = text.charAt(at++);
                if (c == '"') {
                    return built.toString();
                }
                if (c != '\\') {
                    built.append(c);
                    continue;
                }
                char e = text.charAt(at++);
                switch (e) {
                    case '"': case '\\': case '/': built.append(e); break;
                    case 'b': built.append('\b'); break;
                    case 'f': built.append('\f'); break;
                    case 'n': built.append('\n'); break;
                    case 'r': built.append('\r'); break;
                    case 't': built.append('\t'); break;
                    case 'u':
                        built.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                        at += 4;
                        break;
                    default: throw fail("an escape");
                }
            }
        }

        private Object number() {
            int start = at;
            boolean decimal = false;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) {
                decimal |= ".eE".indexOf(text.charAt(at)) >= 0;
                at++;
            }
            String digits = text.substring(start, at);
            if (digits.isEmpty()) {
                throw fail("a value");
            }
            if (decimal) {
                return Double.valueOf(digits);
            }
            long value = Long.parseLong(digits);
            if (value >= Integer.MIN_VALUE && value <= Integer.MAX_VALUE) {
                return Integer.valueOf((int) value);
            }
            return Long.valueOf(value);
        }

        private Object word(String word, Object value) {
            if (!text.startsWith(word, at)) {
                throw fail(word);
            }
            at += word.length();
            return value;
        }

        private void space() {
            while (at < text.length() && " \t\r\n".indexOf(text.charAt(at)) >= 0) {
                at++;
            }
        }

        private char peek() {
            return at < text.length() ? text.charAt(at) : '\0';
        }

        private void expect(char c) {
            if (peek() != c) {
                throw fail("'" + c + "'");
            }
            at++;
        }

        private IllegalArgumentException fail(String expected) {
            return new IllegalArgumentException("bad request JSON at " + at + ": expected " + expected);
        }
    }
}
