/*
 * talkhead-table.js: the tables of Great Expectations Data Docs pages, drawn with no network.
 *
 * Great Expectations' pages call `$(table).bootstrapTable(options)` (bootstrap-table, loaded from a CDN).
 * This is talkhead's own small jQuery plugin under that name, implementing what those pages use:
 * columns (field, title, align, sortable, sortName: the field holding the sort key), data rows (cells are
 * trusted HTML), search, sortName (a column's field) / sortOrder, a per-column filter (a select of the
 * distinct values for filterControl 'select', a text box otherwise; filterDataCollector gives a row's
 * filter value), pagination (10 rows a page), rowStyle / rowAttributes (functions or global function
 * names), the 'click-row.bs.table' event, a toolbar element moved above the table, and the methods
 * 'clearFilterControl', 'resetSearch', 'load' and 'getData'. A second initialisation is ignored, as in
 * bootstrap-table. Options of the pages that change only bootstrap-table's look (iconSize, toolbarAlign,
 * visibleSearch, trimOnSearch, showSearchClearButton, filterDatepickerOptions, filterCustomSearch: the
 * date filter is a text filter here) are ignored; tables marked data-toggle="table" are not drawn unless
 * a script calls bootstrapTable (every Great Expectations table is).
 */
(function ($) {
  'use strict';

  var PAGE_SIZE = 10;

  function truthy(value) { return value === true || value === 'true'; }

  function callable(value) {
    if (typeof value === 'function') { return value; }
    if (typeof value === 'string' && typeof window[value] === 'function') { return window[value]; }
    return null;
  }

  function plain(html) {
    return $('<div>').html(html === undefined || html === null ? '' : String(html)).text().trim();
  }

  function number(value) {
    if (typeof value === 'number') { return value; }
    var text = plain(value);
    return text === '' ? NaN : Number(text);
  }

  // Numbers as numbers, else the cells' text; equal texts (an icon-only status cell) fall back to the HTML.
  function compare(a, b) {
    var x = number(a), y = number(b);
    if (isFinite(x) && isFinite(y)) { return x - y; }
    return plain(a).localeCompare(plain(b)) || String(a === undefined || a === null ? '' : a)
      .localeCompare(String(b === undefined || b === null ? '' : b));
  }

  function Table($table, options) {
    this.$table = $table;
    this.options = $.extend({}, options);
    this.columns = this.options.columns || [];
    this.data = (this.options.data || []).slice();
    this.search = '';
    this.filters = {};
    this.sortName = this.options.sortName || null;  // a column's field, like bootstrap-table's option
    this.sortOrder = this.options.sortOrder === 'desc' ? 'desc' : 'asc';
    this.page = 0;
    this.build();
    this.render();
  }

  Table.prototype.filterValue = function (column, row) {
    var collect = callable(column.filterDataCollector);
    return plain(collect ? collect(row[column.field], row, row[column.field]) : row[column.field]);
  };

  Table.prototype.build = function () {
    var self = this;
    var $bar = self.$bar = $('<div class="th-table-toolbar"></div>').insertBefore(self.$table);
    if (self.options.toolbar) { $(self.options.toolbar).appendTo($bar); }
    if (truthy(self.options.search)) {
      self.$search = $('<input type="search" class="form-control form-control-sm th-table-search">')
        .attr('placeholder', 'Search')
        .on('input', function () { self.search = this.value.toLowerCase(); self.page = 0; self.render(); })
        .appendTo($bar);
    }
    self.$table.addClass('table th-table').empty();
    var $head = $('<thead></thead>').appendTo(self.$table);
    var $titles = $('<tr></tr>').appendTo($head);
    var $filters = truthy(self.options.filterControl) ? $('<tr class="th-table-filters"></tr>').appendTo($head) : null;
    $.each(self.columns, function (_, column) {
      var $th = $('<th></th>').html(column.title || column.field).css('text-align', column.align || '');
      if (truthy(column.sortable)) {
        $th.addClass('th-sortable').on('click', function () {
          self.sortOrder = self.sortName === column.field && self.sortOrder === 'asc' ? 'desc' : 'asc';
          self.sortName = column.field;
          self.render();
        });
      }
      $th.data('field', column.field);
      $titles.append($th);
      if (!$filters) { return; }
      var $cell = $('<th></th>').appendTo($filters);
      if (!column.filterControl) { return; }
      var $control;
      if (column.filterControl === 'select') {
        $control = $('<select class="form-control form-control-sm"><option value=""></option></select>');
        var seen = {};
        $.each(self.data, function (_, row) {
          var value = self.filterValue(column, row);
          if (value && !seen[value]) { seen[value] = true; $control.append($('<option></option>').text(value)); }
        });
      } else {
        $control = $('<input type="text" class="form-control form-control-sm">');
      }
      $control.on('input change', function () {
        self.filters[column.field] = this.value.toLowerCase();
        self.page = 0;
        self.render();
      }).appendTo($cell);
    });
    self.$body = $('<tbody></tbody>').appendTo(self.$table);
    self.$pager = $('<div class="th-table-pager"></div>').insertAfter(self.$table);
  };

  Table.prototype.rows = function () {
    var self = this;
    var rows = $.grep(self.data, function (row) {
      var ok = true;
      $.each(self.columns, function (_, column) {
        var wanted = self.filters[column.field];
        if (ok && wanted) {
          var value = self.filterValue(column, row).toLowerCase();
          ok = column.filterControl === 'select' ? value === wanted : value.indexOf(wanted) >= 0;
        }
      });
      if (ok && self.search) {
        ok = $.grep(self.columns, function (column) {
          return plain(row[column.field]).toLowerCase().indexOf(self.search) >= 0;
        }).length > 0;
      }
      return ok;
    });
    if (self.sortName) {
      var sign = self.sortOrder === 'desc' ? -1 : 1, name = self.sortName;
      $.each(self.columns, function (_, column) {  // the column's sortName: the field holding its sort key
        if (column.field === self.sortName && column.sortName) { name = column.sortName; }
      });
      rows.sort(function (a, b) { return sign * compare(a[name], b[name]); });
    }
    return rows;
  };

  Table.prototype.render = function () {
    var self = this, rows = self.rows();
    var paged = truthy(self.options.pagination) && rows.length > PAGE_SIZE;
    var pages = paged ? Math.ceil(rows.length / PAGE_SIZE) : 1;
    self.page = Math.min(self.page, pages - 1);
    var shown = paged ? rows.slice(self.page * PAGE_SIZE, (self.page + 1) * PAGE_SIZE) : rows;
    var rowStyle = callable(self.options.rowStyle), rowAttributes = callable(self.options.rowAttributes);
    self.$table.find('th.th-sortable').each(function () {
      $(this).attr('data-order', $(this).data('field') === self.sortName ? self.sortOrder : null);
    });
    self.$body.empty();
    $.each(shown, function (index, row) {
      var $tr = $('<tr></tr>');
      if (rowAttributes) { $tr.attr(rowAttributes(row, index) || {}); }
      if (rowStyle) { $tr.css((rowStyle(row, index) || {}).css || {}); }
      $.each(self.columns, function (_, column) {
        $('<td></td>').html(row[column.field] === undefined ? '' : row[column.field])
          .css('text-align', column.align || '').appendTo($tr);
      });
      $tr.on('click', function () { self.$table.trigger('click-row.bs.table', [row, $tr]); });
      self.$body.append($tr);
    });
    if (!shown.length) {
      $('<tr class="th-table-empty"></tr>').append($('<td></td>').attr('colspan', self.columns.length)
        .text('No matching records')).appendTo(self.$body);
    }
    self.$pager.empty();
    if (paged) {
      for (var k = 0; k < pages; k += 1) {
        $('<button type="button" class="btn btn-sm btn-light"></button>').text(k + 1)
          .toggleClass('active', k === self.page)
          .on('click', (function (page) { return function () { self.page = page; self.render(); }; }(k)))
          .appendTo(self.$pager);
      }
    }
  };

  var methods = {
    clearFilterControl: function (table) {
      table.filters = {};
      table.$table.find('.th-table-filters select, .th-table-filters input').val('');
      table.render();
    },
    resetSearch: function (table) {
      table.search = '';
      if (table.$search) { table.$search.val(''); }
      table.render();
    },
    load: function (table, data) {  // new rows: rebuilt, so the select filters list the new values
      var $toolbar = table.options.toolbar ? $(table.options.toolbar) : $();
      $toolbar.insertBefore(table.$bar);
      table.$bar.remove();
      table.$pager.remove();
      table.$table.data('th.table', new Table(table.$table, $.extend({}, table.options, {data: data || []})));
    },
    getData: function (table) { return table.rows(); }
  };

  $.fn.bootstrapTable = function (option) {
    var args = Array.prototype.slice.call(arguments, 1), result;
    this.each(function () {
      var $table = $(this), table = $table.data('th.table');
      if (typeof option === 'string') {
        if (table && methods[option]) { result = methods[option].apply(null, [table].concat(args)); }
        return;
      }
      if (!table) { $table.data('th.table', new Table($table, option || {})); }  // as bootstrap-table: once
    });
    return result === undefined ? this : result;
  };
}(window.jQuery));
