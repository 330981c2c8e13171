using Exch.Dsr.Configuration;

namespace Exch.Dsr.DataPlane;

/// <summary>"no server 'cas1'; did you mean 'CAS1'?" for names an operator typed on the control socket.</summary>
internal static class NameSuggestions
{
    /// <summary>The message for an unknown <paramref name="name"/>: the nearest known name, or every known name.</summary>
    public static string Unknown(string kind, string name, IEnumerable<string> known)
    {
        var names = known.ToList();
        return NearestName.Find(name, names) is { } nearest
            ? $"no {kind} '{name}'; did you mean '{nearest}'?"
            : $"no {kind} '{name}' (the {kind}s are: {(names.Count == 0 ? "none" : string.Join(", ", names))})";
    }
}
