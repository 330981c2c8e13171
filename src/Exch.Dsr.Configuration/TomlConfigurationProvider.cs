using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using Exch.Dsr.Toml;
using Microsoft.Extensions.Configuration;

namespace Exch.Dsr.Configuration;

/// <summary>Where a configuration key came from in a TOML document, with the node so its TOML type is not lost.</summary>
/// <param name="File">The source's display name.</param>
/// <param name="KeyName">The key exactly as written (configuration keys are case-insensitive, TOML keys are not).</param>
/// <param name="KeyPosition">Where the key was written; for an array element, where the element starts.</param>
/// <param name="Node">The value, array or table.</param>
public sealed record TomlKeySource(string File, string KeyName, TomlPosition KeyPosition, TomlNode Node);

/// <summary>A TOML document that cannot be turned into configuration keys, with its position when it has one.</summary>
public sealed class TomlConfigurationException : Exception
{
    public TomlConfigurationException(string file, TomlPosition? position, string reason, Exception? inner = null)
        : base(position is { } p ? $"{file}:{p.Line}:{p.Column}: {reason}" : $"{file}: {reason}", inner)
    {
        File = file;
        Position = position;
        Reason = reason;
    }

    public string File { get; }

    public TomlPosition? Position { get; }

    public string Reason { get; }
}

/// <summary>
/// Flattens a TOML document into configuration keys and keeps a source map from every key path (values, arrays and
/// tables) to its position, so a validator of the final, merged configuration can point into the file.
/// </summary>
public sealed class TomlConfigurationProvider : ConfigurationProvider, IDisposable
{
    // A save from an editor arrives as several change events (truncate, write, rename): wait for them to settle.
    private static readonly TimeSpan ReloadDelay = TimeSpan.FromMilliseconds(250);

    private readonly TomlConfigurationSource _source;
    private readonly string _displayName;
    private FileSystemWatcher? _watcher;
    private Timer? _reloadTimer;

    // Replaced whole on every load: readers on other threads see either the old map or the new one.
    private volatile Dictionary<string, TomlKeySource> _sources = new(StringComparer.OrdinalIgnoreCase);

    public TomlConfigurationProvider(TomlConfigurationSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Text is null && string.IsNullOrEmpty(source.Path))
        {
            throw new ArgumentException("a TOML configuration source needs a Path or a Text", nameof(source));
        }

        _source = source;
        _displayName = source.DisplayName ?? source.Path ?? "configuration";
    }

    /// <summary>The name error positions are prefixed with.</summary>
    public string DisplayName => _displayName;

    /// <summary>
    /// Why the last read failed (missing file, TOML syntax error), or null after a good read. Load never throws, unlike
    /// the JSON provider: the error then reaches the administrator through the same positioned list as every other
    /// mistake (check-config, ValidateOnStart), instead of as an exception from ConfigurationBuilder.Build.
    /// </summary>
    public TomlConfigurationException? LoadError { get; private set; }

    /// <summary>
    /// True once a good version has been read. A later bad read keeps that version's keys: a running service keeps
    /// its last good configuration rather than dropping every VIP over a typo.
    /// </summary>
    public bool HasLoaded { get; private set; }

    /// <summary>Where <paramref name="key"/> (a configuration path such as <c>service:0:vip</c>) was written.</summary>
    public bool TryGetSource(string key, [NotNullWhen(true)] out TomlKeySource? source) => _sources.TryGetValue(key, out source);

    public override void Load()
    {
        TryRead();
        StartWatching();
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _reloadTimer?.Dispose();
    }

    public override string ToString() => $"{GetType().Name} for '{_displayName}'";

    private (Dictionary<string, string?> Data, Dictionary<string, TomlKeySource> Sources) Read()
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var sources = new Dictionary<string, TomlKeySource>(StringComparer.OrdinalIgnoreCase);
        byte[]? bytes = null;
        if (_source.Text is null)
        {
            try
            {
                bytes = File.ReadAllBytes(_source.Path!);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                if (_source.Optional)
                {
                    return (data, sources);
                }

                throw new TomlConfigurationException(_displayName, null, "file not found", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new TomlConfigurationException(_displayName, null, $"cannot be read: {e.Message}", e);
            }
        }

        TomlTable document;
        try
        {
            document = _source.Text is { } text ? TomlParser.Parse(text) : Parse(bytes!);
        }
        catch (TomlException e)
        {
            throw new TomlConfigurationException(_displayName, e.Position, e.Reason, e);
        }

        Flatten(document, prefix: null, data, sources);
        return (data, sources);
    }

    /// <summary>
    /// UTF-8 goes to the parser as bytes, so a stray invalid byte is reported with its line and column rather than
    /// silently replaced. UTF-16 with a byte order mark (Notepad's "Unicode") is decoded first: TOML requires UTF-8,
    /// but refusing a file an administrator cannot see anything wrong with helps nobody.
    /// </summary>
    private static TomlTable Parse(byte[] bytes) => bytes switch
    {
        [0xFF, 0xFE, ..] => TomlParser.Parse(Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2)),
        [0xFE, 0xFF, ..] => TomlParser.Parse(Encoding.BigEndianUnicode.GetString(bytes, 2, bytes.Length - 2)),
        _ => TomlParser.Parse(bytes),
    };

    private void Flatten(TomlNode node, string? prefix, Dictionary<string, string?> data, Dictionary<string, TomlKeySource> sources)
    {
        switch (node)
        {
            case TomlTable table:
                foreach (var (key, child) in table.Entries)
                {
                    Add(Combine(prefix, key), key, table.KeyPosition(key), child, data, sources);
                }

                // An empty table or array still exists (null value), so "members = []" differs from no members key.
                if (table.Count == 0 && prefix is not null)
                {
                    data[prefix] = null;
                }

                break;
            case TomlArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    var index = i.ToString(CultureInfo.InvariantCulture);
                    Add(Combine(prefix, index), index, array[i].Position, array[i], data, sources);
                }

                if (array.Count == 0 && prefix is not null)
                {
                    data[prefix] = null;
                }

                break;
            case TomlValue value when prefix is not null:
                data[prefix] = Text(value);
                break;
        }
    }

    private void Add(string path, string keyName, TomlPosition keyPosition, TomlNode node, Dictionary<string, string?> data, Dictionary<string, TomlKeySource> sources)
    {
        // Configuration keys ignore case and TOML keys do not: "Name" and "name" in one table would silently merge.
        if (sources.TryGetValue(path, out var earlier))
        {
            throw new TomlConfigurationException(
                _displayName,
                keyPosition,
                $"key '{keyName}' differs from '{earlier.KeyName}' (line {earlier.KeyPosition.Line}) only in letter case; keys are lower-case");
        }

        sources.Add(path, new TomlKeySource(_displayName, keyName, keyPosition, node));
        Flatten(node, path, data, sources);
    }

    private static string Combine(string? prefix, string key) => prefix is null ? key : prefix + ConfigurationPath.KeyDelimiter + key;

    private static string Text(TomlValue value) => value.Value switch
    {
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        string s => s,
        _ => value.Text ?? Convert.ToString(value.Value, CultureInfo.InvariantCulture) ?? string.Empty,
    };

    private void StartWatching()
    {
        if (!_source.ReloadOnChange || _source.Text is not null || _watcher is not null)
        {
            return;
        }

        var path = _source.Path!;
        var directory = System.IO.Path.GetDirectoryName(path);
        if (directory is null || !Directory.Exists(directory))
        {
            return;
        }

        _reloadTimer = new Timer(_ => Reload(), null, Timeout.Infinite, Timeout.Infinite);
        _watcher = new FileSystemWatcher(directory, System.IO.Path.GetFileName(path))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        FileSystemEventHandler changed = (_, _) => _reloadTimer.Change(ReloadDelay, Timeout.InfiniteTimeSpan);
        _watcher.Changed += changed;
        _watcher.Created += changed;
        _watcher.Renamed += (_, _) => _reloadTimer.Change(ReloadDelay, Timeout.InfiniteTimeSpan);
        _watcher.EnableRaisingEvents = true;
    }

    private void Reload()
    {
        TryRead();

        // Signalled after a failed read too, so a listener re-validates and can report LoadError.
        OnReload();
    }

    private void TryRead()
    {
        try
        {
            (Data, _sources) = Read();
            LoadError = null;
            HasLoaded = true;
        }
        catch (TomlConfigurationException e)
        {
            LoadError = e;
        }
    }
}
