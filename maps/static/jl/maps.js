/* Jurisdiction Ledger map pages: the glue between folium's Leaflet objects and the API.
 * Plain ES2017, no dependency but Leaflet and the vendored plugins; every request goes to the
 * service that served the page. */
(function () {
  'use strict';

  var JL = (window.JL = window.JL || {});
  var OFFICE_KINDS = {
    street_office: "street office 街道办事处",
    street_service_centre: "street service centre 党群服务中心",
    residents_committee: "residents' committee 居委会",
    workstation: 'workstation 社区工作站',
    grid_officer: 'grid officer 网格员',
    district_government: 'district government 区政府',
    construction_bureau: 'construction bureau',
    economic_bureau: 'economic bureau',
    new_area_committee: 'new-area committee 新区管委会',
  };
  /* ColorBrewer Set3: one pastel per unit of a categorical level. */
  var PASTELS = ['#8dd3c7', '#ffffb3', '#bebada', '#fb8072', '#80b1d3', '#fdb462', '#b3de69',
    '#fccde5', '#d9d9d9', '#bc80bd', '#ccebc5', '#ffed6f'];
  var HIGHLIGHT = { color: '#ffd600', weight: 5, opacity: 1, fill: false, interactive: false };
  var HALO = { color: '#212121', weight: 8, opacity: 0.45, fill: false, interactive: false };

  function config() {
    return window.JL_CONFIG || { prefix: '', levels: {}, order: [] };
  }
  JL.config = config;

  function esc(value) {
    return String(value === null || value === undefined ? '' : value).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  JL.esc = esc;

  function url(path) {
    return (config().prefix || '') + path;
  }

  function getJSON(path) {
    return fetch(url(path), { headers: { Accept: 'application/json' } }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          var message = body && body.error ? body.error.message : 'HTTP ' + response.status;
          throw new Error(message);
        }
        return body;
      });
    });
  }
  JL.getJSON = getJSON;

  function levelOf(name) {
    return config().levels[name] || { name: name, title: name, color: '#455a64', rank: 9, weight: 1, fillOpacity: 0.05 };
  }

  /* ---- styles ---------------------------------------------------------------------------- */

  var categories = null;

  /* The same unit gets the same pastel on every tile: by its place among the labelled units of
   * its level (codes in order), else by a hash of its code. */
  function pastel(level, code) {
    if (!categories) {
      categories = {};
      var labels = config().labels || {};
      Object.keys(labels).forEach(function (name) {
        (Array.isArray(labels[name]) ? labels[name] : []).forEach(function (entry, i) { categories[entry.code] = i; });
      });
    }
    var index = categories[code];
    if (index === undefined) {
      index = 0;
      for (var i = 0; i < code.length; i++) index = (index * 31 + code.charCodeAt(i)) % 9973;
    }
    return PASTELS[index % PASTELS.length];
  }

  function baseStyle(level, code) {
    var l = levelOf(level);
    var categorical = l.categorical && code;
    return {
      color: l.color,
      weight: l.weight,
      opacity: 0.9,
      fill: true,
      fillColor: categorical ? pastel(level, code) : l.color,
      fillOpacity: categorical ? 0.55 : l.fillOpacity,
    };
  }

  /* A VectorGrid style function for one level; `side` picks the change colours (compare page)
   * or the faint context style (unit page). */
  JL.tileStyle = function (level, side) {
    return function (properties) {
      var style = baseStyle(level, properties.code);
      if (side === 'context') {
        style.color = '#78909c';
        style.fillColor = '#b0bec5';
        style.fillOpacity = 0.12;
        style.weight = 1;
        return style;
      }
      var changes = side && config().changes ? config().changes[side] : null;
      var kind = changes ? changes[properties.code] : null;
      if (kind) {
        var colour = config().kinds[kind];
        style.fillColor = colour;
        style.fillOpacity = 0.5;
        style.color = colour;
        style.weight = Math.max(style.weight, 2);
      }
      return style;
    };
  };

  /* ---- labels ---------------------------------------------------------------------------- */

  function labelLayer(map, entries, level) {
    var group = L.layerGroup();
    var rank = levelOf(level).rank;
    entries.forEach(function (entry) {
      L.tooltip({
        permanent: true,
        direction: 'center',
        interactive: false,
        className: 'jl-label jl-label-r' + rank,
      })
        .setLatLng([entry.lat, entry.lon])
        .setContent(esc(entry.name))
        .addTo(group);
    });
    return group;
  }

  /* Labels of a level follow its layer on and off, and show from a zoom that suits the level. */
  function bindLabels(map, layer, entries, level) {
    if (!entries || !entries.length || !layer) return;
    var labels = labelLayer(map, entries, level);
    var rank = levelOf(level).rank;
    var minZoom = rank <= 1 ? 0 : 10 + rank - 1;
    function sync() {
      var wanted = map.hasLayer(layer) && map.getZoom() >= minZoom;
      if (wanted && !map.hasLayer(labels)) labels.addTo(map);
      if (!wanted && map.hasLayer(labels)) map.removeLayer(labels);
    }
    layer.on('add remove', function () { setTimeout(sync, 0); });
    map.on('zoomend', sync);
    sync();
  }

  /* ---- readiness (for people: a status line; for tests: data-jl-ready on <html>) ---------- */

  function watchTiles(map, layers) {
    var pending = 0;
    var done = function () {
      pending -= 1;
      if (pending <= 0) document.documentElement.setAttribute('data-jl-ready', 'true');
    };
    Object.keys(layers).forEach(function (name) {
      var layer = layers[name];
      if (!map.hasLayer(layer)) return;
      if (map.getZoom() < (layer.options.minZoom || 0)) return;
      pending += 1;
      layer.once('load', done);
    });
    if (pending === 0) document.documentElement.setAttribute('data-jl-ready', 'true');
    setTimeout(function () { document.documentElement.setAttribute('data-jl-ready', 'true'); }, 15000);
  }

  /* ---- popups: who is responsible here ----------------------------------------------------- */

  function validity(unit) {
    var to = unit.valid_to ? esc(unit.valid_to) : 'today';
    return 'valid ' + esc(unit.valid_from) + ' → ' + to;
  }

  function officeLine(office) {
    var kind = OFFICE_KINDS[office.kind] || office.kind.replace(/_/g, ' ');
    var serves = office.serves && office.serves.length > 1 ? ' <small>serves ' + office.serves.length + ' communities</small>' : '';
    var address = office.address ? '<br><small>' + esc(office.address) + '</small>' : '';
    return '<li><span class="jl-office-kind">' + esc(kind) + '</span> ' + esc(office.name) + serves + address + '</li>';
  }

  /* The offices of each unit of the chain: those belonging to it, and for a community the
   * workstation that serves it. */
  function officesByUnit(units, offices) {
    var out = {};
    var codes = units.map(function (u) { return u.code; });
    (offices || []).forEach(function (office) {
      var home = office.unit;
      (office.serves || []).forEach(function (served) {
        if (codes.indexOf(served) >= 0) home = served;
      });
      (out[home] = out[home] || []).push(office);
    });
    return out;
  }

  function popupHtml(unit, chain, offices, day) {
    var l = levelOf(unit.level);
    var byUnit = officesByUnit(chain, offices);
    var own = byUnit[unit.code] || [];
    var html = '<div class="jl-pop">';
    html += '<div class="jl-pop-level" style="color:' + l.color + '">' + esc(l.title) + '</div>';
    html += '<h3><span class="jl-pop-name">' + esc(unit.name) + '</span> <code class="jl-pop-code">' + esc(unit.code) + '</code></h3>';
    html += '<div class="jl-pop-valid">' + validity(unit) + '</div>';
    if (own.length) html += '<ul class="jl-offices">' + own.map(officeLine).join('') + '</ul>';
    var others = chain.filter(function (u) { return u.code !== unit.code; });
    if (others.length) {
      html += '<div class="jl-pop-chain"><div class="jl-pop-sub">Here on ' + esc(day) + '</div><ul>';
      others.forEach(function (u) {
        var ol = levelOf(u.level);
        html += '<li><span class="jl-dot" style="background:' + ol.color + '"></span>' + esc(ol.title) +
          ': <a href="' + url('/maps/units/' + encodeURIComponent(u.code)) + '?date=' + esc(day) + '">' + esc(u.name) +
          '</a> <code>' + esc(u.code) + '</code>';
        var theirs = byUnit[u.code] || [];
        if (theirs.length && ol.rank >= levelOf(unit.level).rank - 1) {
          html += '<ul class="jl-offices">' + theirs.map(officeLine).join('') + '</ul>';
        }
        html += '</li>';
      });
      html += '</ul></div>';
    }
    html += '<div class="jl-pop-links"><a href="' + url('/maps/units/' + encodeURIComponent(unit.code)) + '?date=' + esc(day) +
      '">History &amp; lineage</a> · <a href="' + url('/v1/units/' + encodeURIComponent(unit.code)) + '?date=' + esc(day) + '">JSON</a></div>';
    return html + '</div>';
  }

  function visibleLevels(map, layers) {
    return Object.keys(layers).filter(function (name) {
      var layer = layers[name];
      return map.hasLayer(layer) && map.getZoom() >= (layer.options.minZoom || 0);
    });
  }

  function Inspector(map, layers, day) {
    this.map = map;
    this.layers = layers;
    this.day = day;
    this.outline = L.layerGroup().addTo(map);
    var self = this;
    map.on('popupclose', function () { self.outline.clearLayers(); });
  }

  Inspector.prototype.highlight = function (code, fit) {
    var self = this;
    return getJSON('/v1/units/' + encodeURIComponent(code) + '?date=' + this.day).then(function (feature) {
      self.outline.clearLayers();
      L.geoJSON(feature, { style: HALO, interactive: false }).addTo(self.outline);
      var shape = L.geoJSON(feature, { style: HIGHLIGHT, interactive: false }).addTo(self.outline);
      if (fit) self.map.fitBounds(shape.getBounds(), { padding: [40, 40], maxZoom: 16 });
      return feature;
    });
  };

  /* A click: the units and offices at the point, the finest visible level's unit outlined. */
  Inspector.prototype.at = function (latlng, preferred) {
    var self = this;
    // Keep the popup clear of the panel (left) and the layer control (top right).
    var container = this.map.getContainer();
    var panelled = container.offsetWidth > 900 && document.querySelector('.jl-panel-left');
    var popup = L.popup({
      maxWidth: 380,
      minWidth: 260,
      autoPanPaddingTopLeft: [panelled ? 350 : 20, 20],
      autoPanPaddingBottomRight: [panelled ? 290 : 20, 20],
    })
      .setLatLng(latlng)
      .setContent('<div class="jl-pop jl-loading">Looking up ' + latlng.lat.toFixed(5) + ', ' + latlng.lng.toFixed(5) + '…</div>')
      .openOn(this.map);
    var lon = L.Util.wrapNum(latlng.lng, [-180, 180], true);
    return getJSON('/v1/lookup?lon=' + lon.toFixed(6) + '&lat=' + latlng.lat.toFixed(6) + '&date=' + this.day)
      .then(function (answer) {
        var chain = answer.units || [];
        if (!chain.length) {
          popup.setContent('<div class="jl-pop"><p>No unit here on ' + esc(self.day) + '.</p></div>');
          return;
        }
        var visible = visibleLevels(self.map, self.layers);
        var unit = null;
        chain.forEach(function (u) {
          if (preferred && u.code === preferred) unit = u;
        });
        if (!unit) {
          chain.forEach(function (u) { if (visible.indexOf(u.level) >= 0) unit = u; });
        }
        unit = unit || chain[chain.length - 1];
        popup.setContent(popupHtml(unit, chain, answer.offices, self.day));
        self.highlight(unit.code, false).catch(function () {});
      })
      .catch(function (error) {
        popup.setContent('<div class="jl-pop jl-error">Lookup failed: ' + esc(error.message) + '</div>');
      });
  };

  /* A point inside a (Multi)Polygon: the middle of the widest span of a scan line through the
   * middle of its largest ring (a centroid can fall outside). */
  function pointInside(geometry) {
    var polygons = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
    var best = null;
    polygons.forEach(function (polygon) {
      var ring = polygon[0];
      var ys = ring.map(function (p) { return p[1]; });
      var y = (Math.min.apply(null, ys) + Math.max.apply(null, ys)) / 2;
      var xs = [];
      polygon.forEach(function (r) {
        for (var i = 0, j = r.length - 1; i < r.length; j = i++) {
          var a = r[i], b = r[j];
          if ((a[1] > y) !== (b[1] > y)) xs.push(a[0] + ((y - a[1]) * (b[0] - a[0])) / (b[1] - a[1]));
        }
      });
      xs.sort(function (p, q) { return p - q; });
      for (var k = 0; k + 1 < xs.length; k += 2) {
        var width = xs[k + 1] - xs[k];
        if (!best || width > best.width) best = { width: width, lat: y, lng: (xs[k] + xs[k + 1]) / 2 };
      }
    });
    return best ? L.latLng(best.lat, best.lng) : null;
  }
  JL.pointInside = pointInside;

  /* Show a unit by code: outline it, fit the map to it, open its popup inside it. */
  Inspector.prototype.show = function (code) {
    var self = this;
    return this.highlight(code, true).then(function (feature) {
      var inside = feature.geometry ? pointInside(feature.geometry) : null;
      if (inside) {
        self.map.once('moveend', function () {
          self.at(inside, code).then(function () { self.highlight(code, false); });
        });
      }
      return feature;
    });
  };

  /* ---- search -------------------------------------------------------------------------------- */

  function Search(inspector, form, status) {
    this.inspector = inspector;
    this.form = form;
    this.status = status;
    this.entries = [];
    this.loaded = {};
    var self = this;
    var labels = config().labels || {};
    Object.keys(labels).forEach(function (level) { self.add(labels[level]); });
    var input = form.querySelector('input[type=search]');
    input.addEventListener('focus', function () { self.loadMore(); });
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      self.find(input.value.trim());
    });
  }

  Search.prototype.add = function (entries) {
    var list = this.form.querySelector('datalist');
    var seen = {};
    this.entries.forEach(function (e) { seen[e.code] = true; });
    var fragment = document.createDocumentFragment();
    var self = this;
    entries.forEach(function (entry) {
      if (seen[entry.code]) return;
      self.entries.push(entry);
      var option = document.createElement('option');
      option.value = entry.name + ' ' + entry.code;
      option.label = levelOf(entry.level).title;
      fragment.appendChild(option);
    });
    list.appendChild(fragment);
  };

  /* Levels too big to label join the index on first use (codes and names only, no geometry). */
  Search.prototype.loadMore = function () {
    var self = this;
    var cfg = config();
    cfg.order.forEach(function (level) {
      var l = cfg.levels[level];
      if (self.loaded[level] || (cfg.labels && cfg.labels[level]) || !l.count || l.count > 10000) return;
      self.loaded[level] = true;
      getJSON('/v1/units?level=' + encodeURIComponent(level) + '&date=' + cfg.day + '&geometry=false&limit=10000')
        .then(function (page) {
          self.add(page.features.map(function (f) {
            return { code: f.properties.code, name: f.properties.name, level: f.properties.level };
          }));
        })
        .catch(function () {});
    });
  };

  Search.prototype.find = function (text) {
    if (!text) return;
    var words = text.split(/\s+/);
    var code = null;
    var lower = text.toLowerCase();
    var exact = this.entries.filter(function (e) {
      return e.code === text || e.name === text || (e.name + ' ' + e.code) === text || words.indexOf(e.code) >= 0;
    });
    var partial = exact.length ? exact : this.entries.filter(function (e) {
      return e.name.toLowerCase().indexOf(lower) >= 0 || e.code.indexOf(text) === 0;
    });
    if (partial.length) code = partial[0].code;
    else if (/^[\w.-]+$/.test(text)) code = text; // maybe a grid or another unlisted code
    var self = this;
    if (!code) {
      this.say('Nothing matches “' + text + '”.');
      return;
    }
    this.say(partial.length > 1 ? partial.length + ' matches; showing ' + partial[0].name + ' ' + code : 'Showing ' + code + '…');
    this.inspector.show(code).then(function (feature) {
      self.say(feature.properties.name + ' ' + code + ' (' + levelOf(feature.properties.level).title + ')');
    }).catch(function (error) {
      self.say(error.message);
    });
  };

  Search.prototype.say = function (text) {
    if (this.status) this.status.textContent = text;
  };

  /* ---- controls shared by the pages ------------------------------------------------------ */

  function zoomControl(map) {
    L.control.zoom({ position: 'bottomright' }).addTo(map);
    map.attributionControl.setPrefix('<span class="jl-attr">Jurisdiction Ledger · Leaflet</span>');
  }

  function dateJump(form) {
    document.querySelectorAll('select[data-jump]').forEach(function (select) {
      select.addEventListener('change', function () {
        if (!select.value) return;
        var input = form.querySelector('input[name="' + select.getAttribute('data-jump') + '"]');
        input.value = select.value;
        form.submit();
      });
    });
  }

  function autoSubmit(form) {
    if (!form) return;
    form.querySelectorAll('input[type=date]').forEach(function (input) {
      input.addEventListener('change', function () {
        if (input.value && form.querySelectorAll('input[type=date]').length === 1) form.submit();
      });
    });
  }

  function stopMapEvents(element) {
    if (element && L.DomEvent) {
      L.DomEvent.disableClickPropagation(element);
      L.DomEvent.disableScrollPropagation(element);
    }
  }

  /* ---- the layers page --------------------------------------------------------------------- */

  JL.layersPage = function (map, layers) {
    var cfg = config();
    zoomControl(map);
    Object.keys(cfg.labels || {}).forEach(function (level) {
      bindLabels(map, layers[level], cfg.labels[level], level);
    });
    var inspector = new Inspector(map, layers, cfg.day);
    map.on('click', function (event) { inspector.at(event.latlng); });
    var form = document.querySelector('.jl-date-form');
    autoSubmit(form);
    dateJump(form);
    var panel = document.getElementById('jl-panel');
    stopMapEvents(panel);
    JL.search = new Search(inspector, document.getElementById('jl-search'), document.getElementById('jl-status'));
    JL.inspector = inspector;
    JL.map = map;
    JL.layers = layers;
    watchTiles(map, layers);
  };

  /* ---- the comparison page ----------------------------------------------------------------- */

  function dateBadge(map, text, side) {
    var Badge = L.Control.extend({
      onAdd: function () {
        var div = L.DomUtil.create('div', 'jl-badge jl-badge-' + side);
        div.innerHTML = text;
        return div;
      },
    });
    new Badge({ position: 'topleft' }).addTo(map);
  }

  JL.comparePage = function (before, after, beforeLayers, afterLayers) {
    var cfg = config();
    var maps = { before: before, after: after };
    var layers = { before: beforeLayers, after: afterLayers };
    var inspectors = {};
    ['before', 'after'].forEach(function (side) {
      var map = maps[side];
      zoomControl(map);
      dateBadge(map, (side === 'before' ? 'Before · ' : 'After · ') + '<strong>' + esc(cfg.days[side]) + '</strong>', side);
      var labels = (cfg.labels || {})[side] || {};
      Object.keys(labels).forEach(function (level) { bindLabels(map, layers[side][level], labels[level], level); });
      inspectors[side] = new Inspector(map, layers[side], cfg.days[side]);
      map.on('click', function (event) { inspectors[side].at(event.latlng); });
    });
    var panel = document.getElementById('jl-panel');
    panel.addEventListener('click', function (event) {
      var link = event.target.closest('a.jl-change');
      if (!link) return;
      event.preventDefault();
      var code = link.getAttribute('data-code');
      var day = link.getAttribute('data-day');
      var main = day === cfg.days.before ? 'before' : 'after';
      var other = main === 'before' ? 'after' : 'before';
      document.querySelectorAll('a.jl-change.jl-active').forEach(function (a) { a.classList.remove('jl-active'); });
      link.classList.add('jl-active');
      var kind = link.getAttribute('data-kind');
      inspectors[main].highlight(code, true).then(function (feature) {
        if (kind === 'established' || kind === 'ended') {
          // Not there on the other date: show where its territory is (or was), dashed.
          inspectors[other].outline.clearLayers();
          L.geoJSON(feature, { style: L.extend({}, HIGHLIGHT, { dashArray: '8 6', weight: 3 }), interactive: false })
            .addTo(inspectors[other].outline);
        } else {
          inspectors[other].highlight(code, false).catch(function () { inspectors[other].outline.clearLayers(); });
        }
      }).catch(function () {});
    });
    watchTiles(after, afterLayers);
    JL.maps = maps;
    JL.inspectors = inspectors;
  };

  /* ---- a unit through time ----------------------------------------------------------------- */

  var ROLE_COLOURS = { unit: '#d81b60', predecessor: '#6d4c41', successor: '#00897b' };

  JL.formatDay = function (time) {
    return new Date(time).toISOString().slice(0, 10);
  };

  JL.versionInterval = function (feature) {
    var p = feature.properties;
    return {
      start: Date.parse(p.start),
      end: Date.parse(p.end),
      startExclusive: false,
      endExclusive: !p.open,
    };
  };

  JL.versionStyle = function (feature) {
    var role = feature.properties.role;
    var colour = ROLE_COLOURS[role] || '#455a64';
    return {
      color: colour,
      weight: role === 'unit' ? 3 : 2,
      dashArray: role === 'unit' ? null : '6 4',
      fillColor: colour,
      fillOpacity: role === 'unit' ? 0.3 : 0.14,
    };
  };

  JL.versionFeature = function (feature, layer) {
    var p = feature.properties;
    var text = '<strong>' + esc(p.name) + '</strong> <code>' + esc(p.code) + '</code><br>' +
      esc(p.role === 'unit' ? 'this unit' : p.role) + ' · ' + validity(p);
    layer.bindTooltip(text, { sticky: true, className: 'jl-tip' });
    layer.on('click', function (event) {
      L.DomEvent.stopPropagation(event);
      var links = p.role === 'unit' ? '' : '<div class="jl-pop-links"><a href="' + url('/maps/units/' + encodeURIComponent(p.code)) + '">Its own page</a></div>';
      L.popup().setLatLng(event.latlng).setContent('<div class="jl-pop">' + text + links + '</div>').openOn(layer._map);
    });
  };

  JL.unitPage = function (map, timeline, slider, context) {
    var cfg = config();
    zoomControl(map);
    var form = document.querySelector('.jl-date-form');
    var input = form.querySelector('input[name=date]');
    var mapLink = document.getElementById('jl-map-link');
    var current = cfg.day;
    var pending = null;
    function showDay(day) {
      if (day === current) return;
      current = day;
      input.value = day;
      if (mapLink) mapLink.href = url('/maps?date=' + day);
      clearTimeout(pending);
      pending = setTimeout(function () {
        context.setUrl(url('/tiles/' + encodeURIComponent(cfg.level) + '/{z}/{x}/{y}.mvt?date=' + day));
        if (window.history && window.history.replaceState) {
          window.history.replaceState(null, '', window.location.pathname + '?date=' + day);
        }
      }, 350);
      document.querySelectorAll('.jl-versions li').forEach(function (li) {
        li.classList.toggle('jl-active', li.getAttribute('data-from') <= day);
      });
      markVersion(day);
    }
    function markVersion(day) {
      var items = document.querySelectorAll('.jl-versions li');
      var active = null;
      items.forEach(function (li) { li.classList.remove('jl-active'); if (li.getAttribute('data-from') <= day) active = li; });
      if (active) active.classList.add('jl-active');
    }
    function setDay(day) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return;
      day = day < cfg.first ? cfg.first : day > cfg.last ? cfg.last : day;
      slider.setTime(Date.parse(day));
      showDay(day);
    }
    timeline.on('change', function () {
      showDay(JL.formatDay(timeline.time));
    });
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      setDay(input.value);
    });
    input.addEventListener('change', function () { setDay(input.value); });
    document.getElementById('jl-panel').addEventListener('click', function (event) {
      var link = event.target.closest('a.jl-settime');
      if (!link) return;
      event.preventDefault();
      setDay(link.getAttribute('data-day'));
    });
    stopMapEvents(document.getElementById('jl-panel'));
    slider.setTime(Date.parse(cfg.day));
    current = null;
    showDay(cfg.day);
    markVersion(cfg.day);
    watchTiles(map, { context: context });
    JL.map = map;
    JL.timeline = timeline;
    JL.slider = slider;
    JL.setDay = setDay;
  };
})();
