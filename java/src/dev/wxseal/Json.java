package dev.wxseal;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Minimal strict RFC 8259 JSON parser and a serialiser that writes the same bytes as
 * ECMAScript JSON.stringify (no whitespace, members in insertion order).
 *
 * Values: Map<String,Object> (LinkedHashMap, insertion order), List<Object>, String,
 * BigDecimal, Boolean, and the singleton {@link #NULL}.
 */
public final class Json {
    /** JSON null (so that "member present with null" differs from "member absent"). */
    public static final Object NULL = new Object() {
        @Override public String toString() { return "null"; }
    };

    public static final class ParseException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        ParseException(String m) { super(m); }
    }

    private final String s;
    private int i;

    private Json(String s) { this.s = s; }

    public static Object parse(String text) {
        Json p = new Json(text);
        p.ws();
        Object v = p.value(0);
        p.ws();
        if (p.i != p.s.length()) throw new ParseException("trailing data at " + p.i);
        return v;
    }

    private void ws() {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') i++; else break;
        }
    }

    private ParseException err(String m) { return new ParseException(m + " at " + i); }

    private Object value(int depth) {
        if (depth > 64) throw err("too deep");
        if (i >= s.length()) throw err("unexpected end");
        char c = s.charAt(i);
        switch (c) {
            case '{': return object(depth);
            case '[': return array(depth);
            case '"': return string();
            case 't': lit("true"); return Boolean.TRUE;
            case 'f': lit("false"); return Boolean.FALSE;
            case 'n': lit("null"); return NULL;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return number();
                throw err("unexpected character");
        }
    }

    private void lit(String w) {
        if (!s.startsWith(w, i)) throw err("bad literal");
        i += w.length();
    }

    private Map<String, Object> object(int depth) {
        Map<String, Object> m = new LinkedHashMap<>();
        java.util.Set<String> names = new java.util.HashSet<>();
        i++; ws();
        if (i < s.length() && s.charAt(i) == '}') { i++; return m; }
        while (true) {
            ws();
            if (i >= s.length() || s.charAt(i) != '"') throw err("expected member name");
            String k = string();
            ws();
            if (i >= s.length() || s.charAt(i) != ':') throw err("expected :");
            i++; ws();
            Object v = value(depth + 1);
            // Repeated names are refused in every object at any depth (SPEC 6.1, 7, 15.3, 15.6:
            // parsers disagree on repeats), compared after unescaping, a lone surrogate read as U+FFFD.
            if (!names.add(Protocol.wellFormed(k))) throw err("repeated member name " + k);
            m.put(k, v);
            ws();
            if (i >= s.length()) throw err("unexpected end");
            char c = s.charAt(i++);
            if (c == '}') return m;
            if (c != ',') throw err("expected , or }");
        }
    }

    private List<Object> array(int depth) {
        List<Object> a = new ArrayList<>();
        i++; ws();
        if (i < s.length() && s.charAt(i) == ']') { i++; return a; }
        while (true) {
            ws();
            a.add(value(depth + 1));
            ws();
            if (i >= s.length()) throw err("unexpected end");
            char c = s.charAt(i++);
            if (c == ']') return a;
            if (c != ',') throw err("expected , or ]");
        }
    }

    private String string() {
        i++; // opening quote
        StringBuilder b = new StringBuilder();
        while (true) {
            if (i >= s.length()) throw err("unterminated string");
            char c = s.charAt(i++);
            if (c == '"') return b.toString();
            if (c < 0x20) throw err("control character in string");
            if (c != '\\') { b.append(c); continue; }
            if (i >= s.length()) throw err("unterminated escape");
            char e = s.charAt(i++);
            switch (e) {
                case '"': b.append('"'); break;
                case '\\': b.append('\\'); break;
                case '/': b.append('/'); break;
                case 'b': b.append('\b'); break;
                case 'f': b.append('\f'); break;
                case 'n': b.append('\n'); break;
                case 'r': b.append('\r'); break;
                case 't': b.append('\t'); break;
                case 'u': {
                    if (i + 4 > s.length()) throw err("short \\u escape");
                    int cp = 0;
                    for (int k = 0; k < 4; k++) {
                        int d = Character.digit(s.charAt(i + k), 16);
                        if (d < 0) throw err("bad \\u escape");
                        cp = cp * 16 + d;
                    }
                    i += 4;
                    b.append((char) cp);
                    break;
                }
                default: throw err("bad escape");
            }
        }
    }

    private BigDecimal number() {
        int start = i;
        if (s.charAt(i) == '-') i++;
        if (i >= s.length()) throw err("bad number");
        if (s.charAt(i) == '0') i++;
        else if (s.charAt(i) >= '1' && s.charAt(i) <= '9') { while (i < s.length() && Character.isDigit(s.charAt(i))) i++; }
        else throw err("bad number");
        if (i < s.length() && s.charAt(i) == '.') {
            i++;
            int d = i;
            while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') i++;
            if (i == d) throw err("bad fraction");
        }
        if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
            i++;
            if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
            int d = i;
            while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') i++;
            if (i == d) throw err("bad exponent");
        }
        return new BigDecimal(s.substring(start, i));
    }

    // ---------------------------------------------------------------- serialiser

    /** Serialise like ECMAScript JSON.stringify(value) with no indentation. */
    public static String stringify(Object v) {
        StringBuilder b = new StringBuilder();
        write(b, v);
        return b.toString();
    }

    @SuppressWarnings("unchecked")
    private static void write(StringBuilder b, Object v) {
        if (v == null || v == NULL) { b.append("null"); return; }
        if (v instanceof String) { quote(b, (String) v); return; }
        if (v instanceof Boolean) { b.append(v.toString()); return; }
        if (v instanceof BigDecimal) { b.append(((BigDecimal) v).toString()); return; }
        if (v instanceof Number) { b.append(v.toString()); return; }
        if (v instanceof Map) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                if (!first) b.append(',');
                first = false;
                quote(b, e.getKey());
                b.append(':');
                write(b, e.getValue());
            }
            b.append('}');
            return;
        }
        if (v instanceof List) {
            b.append('[');
            boolean first = true;
            for (Object o : (List<Object>) v) {
                if (!first) b.append(',');
                first = false;
                write(b, o);
            }
            b.append(']');
            return;
        }
        throw new IllegalArgumentException("cannot serialise " + v.getClass());
    }

    private static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\b': b.append("\\b"); break;
                case '\f': b.append("\\f"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else if (Character.isHighSurrogate(c)) {
                        if (k + 1 < s.length() && Character.isLowSurrogate(s.charAt(k + 1))) {
                            b.append(c).append(s.charAt(++k));
                        } else {
                            b.append(String.format("\\u%04x", (int) c)); // well-formed JSON.stringify
                        }
                    } else if (Character.isLowSurrogate(c)) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        b.append('"');
    }

    // ---------------------------------------------------------------- accessors

    @SuppressWarnings("unchecked")
    public static Map<String, Object> obj(Object v) {
        if (!(v instanceof Map)) throw new IllegalArgumentException("not a JSON object: " + v);
        return (Map<String, Object>) v;
    }

    @SuppressWarnings("unchecked")
    public static List<Object> arr(Object v) {
        if (!(v instanceof List)) throw new IllegalArgumentException("not a JSON array: " + v);
        return (List<Object>) v;
    }

    /** String member, or null when absent or JSON null. */
    public static String str(Map<String, Object> m, String k) {
        Object v = m.get(k);
        if (v == null || v == NULL) return null;
        if (!(v instanceof String)) throw new IllegalArgumentException(k + " is not a string");
        return (String) v;
    }

    public static long num(Map<String, Object> m, String k) {
        Object v = m.get(k);
        if (!(v instanceof BigDecimal)) throw new IllegalArgumentException(k + " is not a number");
        return ((BigDecimal) v).longValueExact();
    }
}
