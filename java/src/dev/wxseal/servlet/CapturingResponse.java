package dev.wxseal.servlet;

import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpServletResponseWrapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Holds the application's status, content type and body so the filter can seal or sign them; other
 * headers go straight to the real response (they are not authenticated in version 1, SPEC 6.3).
 */
final class CapturingResponse extends HttpServletResponseWrapper {
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    private final List<String> passedHeaders = new ArrayList<>();
    private int status = 200;
    private String contentType;
    private String encoding;
    private ServletOutputStream stream;
    private PrintWriter writer;

    CapturingResponse(HttpServletResponse res) { super(res); }

    int capturedStatus() { return status; }

    /** As a container does: a text written through getWriter declares its charset. */
    String capturedContentType() {
        if (writer != null && contentType != null && !contentType.toLowerCase(Locale.ROOT).contains("charset="))
            return contentType + ";charset=" + getCharacterEncoding();
        return contentType;
    }

    byte[] capturedBody() {
        if (writer != null) writer.flush();
        return buffer.toByteArray();
    }

    /** Drop the headers the application set (an error answer replaces its response). */
    void resetHeaders() {
        for (String h : passedHeaders) super.setHeader(h, null);
        passedHeaders.clear();
    }

    private static boolean intercepted(String name) {
        return name.equalsIgnoreCase("content-type") || name.equalsIgnoreCase("content-length")
            || name.equalsIgnoreCase("content-encoding") || name.equalsIgnoreCase("transfer-encoding")
            || name.regionMatches(true, 0, "wxseal-", 0, 7);
    }

    @Override public void setStatus(int sc) { status = sc; }
    @Override public int getStatus() { return status; }

    @Override
    public void sendError(int sc, String msg) {
        status = sc;
        contentType = "text/plain;charset=utf-8";
        buffer.reset();
        if (msg != null) buffer.writeBytes(msg.getBytes(StandardCharsets.UTF_8));
    }

    @Override public void sendError(int sc) { sendError(sc, null); }

    @Override
    public void sendRedirect(String location) {
        status = 302;
        buffer.reset();
        super.setHeader("Location", location);
        passedHeaders.add("Location");
    }

    @Override
    public void setContentType(String type) {
        contentType = type;
        if (type != null) {
            for (String part : type.split(";")) {
                String p = part.trim();
                if (p.regionMatches(true, 0, "charset=", 0, 8)) encoding = p.substring(8).replace("\"", "");
            }
        }
    }

    @Override public String getContentType() { return contentType; }

    @Override public void setCharacterEncoding(String enc) {
        encoding = enc;
        if (contentType != null && !contentType.toLowerCase(Locale.ROOT).contains("charset="))
            contentType = contentType + ";charset=" + enc;
    }

    @Override public String getCharacterEncoding() { return encoding == null ? "UTF-8" : encoding; }
    @Override public void setContentLength(int len) {}
    @Override public void setContentLengthLong(long len) {}

    @Override
    public void setHeader(String name, String value) {
        if (name.equalsIgnoreCase("content-type")) { setContentType(value); return; }
        if (intercepted(name)) return;
        passedHeaders.add(name);
        super.setHeader(name, value);
    }

    @Override
    public void addHeader(String name, String value) {
        if (name.equalsIgnoreCase("content-type")) { setContentType(value); return; }
        if (intercepted(name)) return;
        passedHeaders.add(name);
        super.addHeader(name, value);
    }

    @Override public void setIntHeader(String name, int value) { setHeader(name, Integer.toString(value)); }
    @Override public void addIntHeader(String name, int value) { addHeader(name, Integer.toString(value)); }

    @Override
    public ServletOutputStream getOutputStream() {
        if (writer != null) throw new IllegalStateException("getWriter already called");
        if (stream == null) {
            stream = new ServletOutputStream() {
                @Override public void write(int b) { buffer.write(b); }
                @Override public void write(byte[] b, int off, int len) { buffer.write(b, off, len); }
                @Override public boolean isReady() { return true; }
                @Override public void setWriteListener(WriteListener l) {
                    try { l.onWritePossible(); } catch (IOException e) { l.onError(e); }
                }
            };
        }
        return stream;
    }

    @Override
    public PrintWriter getWriter() {
        if (stream != null) throw new IllegalStateException("getOutputStream already called");
        if (writer == null) {
            Charset cs;
            try { cs = Charset.forName(getCharacterEncoding()); } catch (RuntimeException e) { cs = StandardCharsets.UTF_8; }
            writer = new PrintWriter(new OutputStreamWriter(buffer, cs));
        }
        return writer;
    }

    @Override public void flushBuffer() { if (writer != null) writer.flush(); }
    @Override public boolean isCommitted() { return false; }
    @Override public void resetBuffer() { if (writer != null) writer.flush(); buffer.reset(); }

    @Override
    public void reset() {
        resetBuffer();
        status = 200;
        contentType = null;
        resetHeaders();
    }

    @Override public void setBufferSize(int size) {}
    @Override public int getBufferSize() { return Integer.MAX_VALUE; }
}
