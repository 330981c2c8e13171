using System.Security.Cryptography;
using System.Text;

namespace Exch.Dsr.StatusPage;

/// <summary>
/// The status page: one embedded HTML file with its style and script inline, so it works on an appliance with no
/// Internet access. The first status is written into the page so it shows at once; the script then refreshes it.
/// </summary>
internal sealed class StatusPageHtml
{
    private const string InitialPlaceholder = "{{INITIAL}}";
    private const string ChangesPlaceholder = "{{CHANGES}}";

    private readonly string _template;

    public StatusPageHtml(string changesText)
    {
        using var stream = typeof(StatusPageHtml).Assembly.GetManifestResourceStream("Exch.Dsr.StatusPage.StatusPage.html")
            ?? throw new InvalidOperationException("the status page resource is missing from the assembly");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var template = reader.ReadToEnd();

        // Only the page's own inline style and script may run: an injected tag (were escaping ever to fail) would not,
        // and no other site may frame the page to trick a click on Drain.
        ContentSecurityPolicy = "default-src 'none'; "
            + $"style-src '{Hash(Inner(template, "<style>", "</style>"))}'; "
            + $"script-src '{Hash(Inner(template, "<script>", "</script>"))}'; "
            + "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
        _template = template.Replace(ChangesPlaceholder, changesText, StringComparison.Ordinal);
    }

    public string ContentSecurityPolicy { get; }

    /// <summary>The page with <paramref name="initialJson"/> (the status, or <c>null</c>) as its first data.</summary>
    /// <remarks>
    /// The JSON must come from System.Text.Json's default encoder, which escapes <c>&lt;</c>, <c>&gt;</c> and
    /// <c>&amp;</c>, so nothing in it can close the script element it sits in.
    /// </remarks>
    public string Render(string initialJson) => _template.Replace(InitialPlaceholder, initialJson, StringComparison.Ordinal);

    private static string Inner(string html, string open, string close)
    {
        var start = html.IndexOf(open, StringComparison.Ordinal);
        var end = start < 0 ? -1 : html.IndexOf(close, start, StringComparison.Ordinal);
        if (end < 0)
        {
            throw new InvalidOperationException($"the status page resource has no {open} element");
        }

        return html[(start + open.Length)..end];
    }

    private static string Hash(string inline) => "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(inline)));
}
