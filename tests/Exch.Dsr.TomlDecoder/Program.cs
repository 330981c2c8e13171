using Exch.Dsr.Toml;

// toml-test's decoder interface: TOML on stdin, tagged JSON on stdout; an invalid document exits 1.
using var input = Console.OpenStandardInput();
using var buffer = new MemoryStream();
input.CopyTo(buffer);

if (!TomlParser.TryParse(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), out var document, out var error))
{
    Console.Error.WriteLine(error.Message);
    return 1;
}

using var output = Console.OpenStandardOutput();
TomlTaggedJson.Write(output, document);
output.WriteByte((byte)'\n');
return 0;
